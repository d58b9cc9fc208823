"""The counterparty's old link once its document has a newer version (issue 17, «Новая версия»).

The old version is final (rejected, withdrawn or expired) and its link must not offer anything; what the person
who opens it needs to know is that the sender has made the document again and where the new one is: in the
e-mail with the new version's own link (sent, as for any document, once the company has signed it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.workflow import version_store

from .link_store import LinkRow


@dataclass(frozen=True)
class NewerVersion:
    """The newest version of the link's document; ``invited``: its counterparty link has been issued."""

    document_id: int
    invited: bool

    @property
    def title(self) -> str:
        return "Есть новая версия документа"

    @property
    def message(self) -> str:
        if self.invited:
            return (
                "Отправлена новая версия документа — ссылка пришла вам письмом. "
                "По этой ссылке действовать больше нельзя."
            )
        return (
            "Отправитель подготовил новую версию документа — ссылка на неё придёт вам письмом, когда её подпишут "
            "в компании-отправителе. По этой ссылке действовать больше нельзя."
        )


def newer_version(d: Any, link: LinkRow | None) -> NewerVersion | None:
    """The newest version after the link's document, if it has one."""
    if link is None:
        return None
    latest = version_store.latest_after(d, link.document_id)
    if latest is None:
        return None
    return NewerVersion(document_id=latest, invited=version_store.has_counterparty_link(d, latest))
