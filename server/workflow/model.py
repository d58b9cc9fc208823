"""Domain values of the workflow, as msgspec Structs (stored rows and API answers share them)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .docstate import DocState

StepKind = Literal["internal", "counterparty"]
StepState = Literal["waiting", "current", "signed", "rejected", "cancelled"]
EntityType = str  # a CRM kind's code; the kinds and their check are in server.bitrix24.entities


class DocumentRow(msgspec.Struct, kw_only=True, frozen=True):
    """One row of ``documents``, every column, as :func:`server.workflow.store.document_row` reads it.

    Frozen: a transition that changes the document gets a new row back (:func:`msgspec.structs.replace`), so a
    listener sees the row as the transition left it and nobody edits a row that another caller still holds.
    """

    id: int
    title: str
    state: DocState
    entity_type: EntityType
    entity_id: int
    company_id: int | None
    author_id: int
    author_name: str
    department_id: int | None
    created_at: str
    updated_at: str
    sent_at: str | None
    finished_at: str | None
    deadline: str | None
    current_step: int
    reason: str
    counterparty_name: str
    counterparty_inn: str
    counterparty_ogrn: str
    counterparty_email: str
    disk_folder_id: int | None
    search: str
    warnings: str  # a JSON list of texts, as stored (see :func:`server.workflow.states.add_warning`)
    # From the create form (migration 0015): the picked deadline (NULL: counterparty_days from sending), the
    # message to the counterparty, the CRM contact person the invitation is addressed to.
    due_at: str | None = None
    message: str = ""
    contact_id: int | None = None
    contact_name: str = ""
    # Issue 17 (migration 0022): the version's number along its chain and the version it replaces.
    version: int = 1
    previous_id: int | None = None


class DocumentFile(msgspec.Struct, kw_only=True):
    id: int
    position: int
    name: str
    size: int
    content_type: str
    streebog256: str
    streebog512: str
    disk_file_id: int | None = None
    # How to check the digest on the signer's computer ({"linux", "windows"}); filled for the detail page only.
    digest_commands: dict[str, str] = {}
    # How a page previews it ("pdf", "image" or "" for a download only: server.workflow.previews); detail only.
    preview: str = ""


class RouteStep(msgspec.Struct, kw_only=True):
    id: int
    position: int
    kind: StepKind
    user_id: int | None
    display_name: str
    state: StepState
    acted_at: str | None = None
    reason: str = ""


class SignatureVerdict(msgspec.Struct, kw_only=True):
    """What a page says an accepted signature is (:mod:`cades.verdicts`): the badge and the headline."""

    tone: str  # valid (green), invalid (red), indeterminate (amber)
    short: str
    title: str
    text: str
    sub_indication: str = ""
    accepted_without_revocation: bool = False


class SignatureInfo(msgspec.Struct, kw_only=True):
    """An accepted signature without its bytes (those are downloaded separately)."""

    id: int
    file_id: int
    step_id: int
    signer_kind: str
    signer_user_id: int | None
    source: str
    status: str
    signer: dict[str, Any]
    certificate_serial: str
    certificate_issuer: str
    identity_warning: str
    accepted_at: str
    disk_file_id: int | None = None
    verdict: SignatureVerdict | None = None
    # Filled for the detail page: the signed file's name and the signing certificate's validity (ISO 8601),
    # so every line of a package of several files says which one it signs and with what.
    file_name: str = ""
    certificate_not_before: str | None = None
    certificate_not_after: str | None = None
    # Issue 18: the МЧД verdict stored with it (server.workflow.poa_policy.shown): number, principal, validity.
    poa: dict[str, Any] | None = None


class DocumentSummary(msgspec.Struct, kw_only=True):
    """One row of a list (the CRM tab, the queue, the department board)."""

    id: int
    title: str
    state: DocState
    state_label: str
    entity_type: EntityType
    entity_id: int
    author_id: int
    author_name: str
    department_id: int | None
    created_at: str
    updated_at: str
    sent_at: str | None
    deadline: str | None
    current_step: int
    current_signer_id: int | None = None
    current_signer_name: str = ""
    files: int = 0
    overdue: bool = False
    warnings: list[str] = []
    version: int = 1  # issue 17: a list shows «v2» beside the title of a later version


class HistoryEntry(msgspec.Struct, kw_only=True):
    at: str
    actor: str
    action: str
    details: dict[str, Any]
    actor_name: str = ""


class PaperLink(msgspec.Struct, kw_only=True):
    """A file's stamped copy on the detail page: the API path that downloads it."""

    file_id: int
    file_name: str  # the original's name (the copy's own name comes with the download)
    url: str  # relative to /api/v1


class PaperLinks(msgspec.Struct, kw_only=True):
    """What the document offers on paper once it has a signature: each signed file's stamped copy and the
    verification protocol (API paths relative to /api/v1)."""

    stamped: list[PaperLink]
    protocol: str


class VersionLinks(msgspec.Struct, kw_only=True):
    """Where a document stands in its chain of versions (issue 17): «Версия 2 из 2» and the links either way.
    ``previous_id``/``next_id``: the neighbouring versions (None at either end); ``latest_id``: the newest one."""

    number: int
    total: int
    previous_id: int | None = None
    next_id: int | None = None
    latest_id: int


ApprovalStepState = Literal["waiting", "current", "approved", "sent_back", "cancelled"]


class ApprovalStep(msgspec.Struct, kw_only=True):
    """One approver of one round of согласование (issue 17); ``label`` is what the panel shows for ``state``."""

    id: int
    round: int
    position: int
    user_id: int
    display_name: str
    state: ApprovalStepState
    label: str = ""
    acted_at: str | None = None
    comment: str = ""


class Person(msgspec.Struct, kw_only=True):
    user_id: int
    display_name: str


class ApprovalInfo(msgspec.Struct, kw_only=True):
    """The document's согласование for the panel: the order, the round, every round's approvers (latest last) and
    the observers. ``returned_comment``: the comment of the approver who sent it back, while it is with the author."""

    mode: str  # "sequential" | "parallel" | "" (no approvers, only observers)
    mode_label: str
    round: int
    steps: list[ApprovalStep]
    observers: list[Person]
    returned_comment: str = ""
    returned_by: str = ""


class DocumentDetail(msgspec.Struct, kw_only=True):
    document: DocumentSummary
    reason: str
    counterparty_name: str
    counterparty_inn: str
    counterparty_ogrn: str
    counterparty_email: str
    files: list[DocumentFile]
    route: list[RouteStep]
    signatures: list[SignatureInfo]
    history: list[HistoryEntry]
    can: list[str]
    # What the author wrote to the counterparty and whom the invitation is addressed to (the create form).
    message: str = ""
    contact_id: int | None = None
    contact_name: str = ""
    # The stamped copies and the protocol (issue 16); None while the document has no signature.
    paper: PaperLinks | None = None
    # Its versions (issue 17); «new_version» in ``can`` offers the next one.
    versions: VersionLinks | None = None
    # Согласование and observers (issue 17); None when the document has neither.
    approval: ApprovalInfo | None = None


class CardRef(msgspec.Struct, kw_only=True):
    """A CRM card a list covers (the company card's roll-up: the company, its deals, its contacts), by name."""

    entity_type: EntityType
    entity_id: int
    title: str
    kind_label: str = ""  # «Сделка», «Контакт»: the roll-up's filter by kind of card
    readable: bool = True  # false: the viewer may not read this card, so only their own documents of it show


class DocumentPage(msgspec.Struct, kw_only=True):
    items: list[DocumentSummary]
    total: int
    limit: int
    offset: int
    cards: list[CardRef] = []  # view=entity: the cards listed, in the order the groups are shown


class Job(msgspec.Struct, kw_only=True):
    """A signing job for the signer's agent or CryptoARM (issue 6 delivers them)."""

    id: int
    document_id: int
    step_id: int
    user_id: int
    channel: str
    status: str
    created_at: str
    files: list[DocumentFile] = []
