"""Transactions of kind "job": the signer's own signing jobs, signed in CryptoARM GOST.

Targets are job ids of one user (a batch: twenty documents, one prompt). The signer claim is the
transaction's user, re-checked against each job row; every signature goes through the workflow's
``accept_signature`` (via :mod:`server.agents.port`). The user's agents hear the outcome per job over
``/agent/ws``: ``signed``, ``refused`` (with the workflow's message) or ``cancelled_in_app`` (jobs stay open).
"""

from __future__ import annotations

import functools
import logging

from common import agent_protocol as protocol
from server.agents import port, store
from server.state import AppServices

from .handlers import DirectResult, Offer, OfferedFile, Outcome
from .transactions import TransactionRefused, Txn

log = logging.getLogger(__name__)


def _key(job_id: int, file_id: int) -> str:
    return f"{job_id}.{file_id}"


def _parse(key: str) -> tuple[int, int] | None:
    job, _, file = key.partition(".")
    return (int(job), int(file)) if job.isdigit() and file.isdigit() else None


class JobHandler:
    kind = "job"

    async def _jobs(self, services: AppServices, txn: Txn) -> list[store.JobView]:
        views = await services.db.read(lambda d: [store.job_view(d, j) for j in txn.targets])
        jobs = [v for v in views if v is not None and v.user_id == txn.user_id and v.status in store.OPEN_JOB_STATES]
        if len(jobs) != len(txn.targets):
            raise TransactionRefused(
                "jobs_not_open",
                "Документы уже подписаны, отозваны, подписание отменено или передано другому способу подписи.",
            )
        return jobs

    async def offer(self, services: AppServices, txn: Txn) -> Offer:
        jobs = await self._jobs(services, txn)
        files = [OfferedFile(key=_key(j.id, f[0]), name=f[1], size=f[2]) for j in jobs for f in j.files]
        titles = ", ".join(j.title for j in jobs[:3]) + ("…" if len(jobs) > 3 else "")
        return Offer(files=files, description=f"Документы: {titles}"[:120])

    async def open_file(self, services: AppServices, txn: Txn, key: str) -> tuple[str, bytes]:
        parsed = _parse(key)
        if parsed is None or parsed[0] not in txn.targets:
            raise TransactionRefused("unknown_file", "Файл не найден.")
        job = await services.db.read(lambda d: store.job_view(d, parsed[0]))
        if job is None or job.user_id != txn.user_id or job.status not in store.OPEN_JOB_STATES:
            raise TransactionRefused("jobs_not_open", "Документ уже подписан, отозван или подписание отменено.")
        name, _ctype, data = await port.job_file(services.downloads, job.document_id, parsed[1])
        return name, data

    async def accept(self, services: AppServices, txn: Txn, results: list[DirectResult]) -> Outcome:
        outcome = Outcome()
        by_job: dict[int, list[tuple[str, str]]] = {}
        for result in results:
            parsed = _parse(result.key)
            job = None
            if parsed is not None and parsed[0] in txn.targets:
                job = await services.db.read(functools.partial(store.job_view, job_id=parsed[0]))
            if parsed is None or job is None or job.user_id != txn.user_id:
                outcome.refused.append(
                    {"key": result.key, "code": "unknown_file", "message": "Файл не из этой транзакции."}
                )
                continue
            try:
                await port.accept_job_signature(
                    services.signatures,
                    job_id=job.id,
                    document_id=job.document_id,
                    user_id=job.user_id,
                    file_id=parsed[1],
                    cms=result.cms,
                    source="cryptoarm",
                )
                outcome.accepted.append(result.key)
            except port.SignatureRefused as refusal:
                outcome.refused.append({"key": result.key, "code": refusal.code, "message": refusal.message})
                by_job.setdefault(job.id, []).append((refusal.code, refusal.message))
        await self._tell_agents(services, txn, by_job)
        return outcome

    async def _tell_agents(self, services: AppServices, txn: Txn, refused: dict[int, list[tuple[str, str]]]) -> None:
        hub = services.agents
        if hub is None or txn.user_id is None:
            return
        statuses = await services.db.read(
            lambda d: {j: (v.status if v else "") for j in txn.targets for v in [store.job_view(d, j)]}
        )
        for job_id in txn.targets:
            if statuses.get(job_id) == "done":
                event = protocol.JobEvent(job_id=job_id, event="signed")
            elif job_id in refused:
                code, message = refused[job_id][0]
                event = protocol.JobEvent(job_id=job_id, event="refused", message=f"{code}: {message}")
            else:
                event = protocol.JobEvent(
                    job_id=job_id, event="refused", message="incomplete: КриптоАРМ вернул подписи не для всех файлов."
                )
            await hub.notify_user(txn.user_id, event)

    async def cancelled(self, services: AppServices, txn: Txn) -> None:
        hub = services.agents
        if hub is None or txn.user_id is None:
            return
        for job_id in txn.targets:
            await hub.notify_user(
                txn.user_id,
                protocol.JobEvent(
                    job_id=job_id,
                    event="cancelled_in_app",
                    message="Подписание отменено в КриптоАРМ ГОСТ; документ по-прежнему ждёт подписи.",
                ),
            )
