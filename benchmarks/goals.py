"""The performance goals, in one place: what ``make bench`` compares, how, and what it must reach.

``benchmarks/conftest.py`` prints each goal's ratio next to its target at the end of a run and writes every figure
to ``benchmarks/results.json``; ``python -m benchmarks.readme`` turns that file into README's Performance table, so
the table is never typed by hand. A goal whose figures were not measured in the run (a benchmark left out with
``-k``) is shown as not measured, never as met.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

# How a goal reads its figures (best round in seconds, from RESULTS):
# - "time":       ours / reference, lower is better (``≤ 1.5x`` its time);
# - "speedup":    reference / ours, higher is better (``≥ 2.5x`` faster; throughput when both do the same work);
# - "share":      reference / cores / ours (every core's worth of the reference's one-core throughput);
# - "below":      ours alone, at most ``target`` seconds;
# - "over":       ours minus reference (the reference is what nothing can go under), at most ``target`` seconds;
# - "info":       a figure worth seeing, no target.
Kind = Literal["time", "speedup", "share", "below", "over", "info"]


@dataclass(frozen=True)
class Goal:
    what: str
    ours: str
    reference: str | None = None
    kind: Kind = "info"
    target: float = 0.0
    reference_text: str = ""  # how the README names the reference

    def value(self, results: Mapping[str, float], cores: int) -> float | None:
        ours = results.get(self.ours)
        ref = results.get(self.reference) if self.reference else None
        if ours is None or ours <= 0 or (self.reference and ref is None):
            return None
        if self.kind == "time":
            assert ref is not None
            return ours / ref
        if self.kind == "speedup":
            assert ref is not None
            return ref / ours
        if self.kind == "share":
            assert ref is not None
            return ref / cores / ours
        if self.kind == "over":
            assert ref is not None
            return ours - ref
        return ours

    def met(self, value: float | None) -> bool | None:
        if value is None or self.kind == "info" or not self.target:
            return None
        if self.kind in ("time", "below", "over"):
            return value <= self.target
        return value >= self.target

    def value_text(self, value: float | None) -> str:
        if value is None:
            return "не измерено"
        if self.kind == "time":
            return f"{value:.2f}x its time"
        if self.kind == "speedup":
            return f"{value:.2f}x"
        if self.kind == "share":
            return f"{value:.2f}"
        if self.kind == "over":
            return f"+{value * 1000:.0f} ms"
        return "" if self.kind == "info" else _seconds(value)

    def target_text(self) -> str:
        if not self.target:
            return ""
        if self.kind == "time":
            return f"≤ {self.target:g}x"
        if self.kind in ("speedup", "share"):
            return f"≥ {self.target:g}" + ("x" if self.kind == "speedup" else "")
        if self.kind in ("below", "over"):
            return f"≤ {_seconds(self.target)}" + (" over the reference" if self.kind == "over" else "")
        return ""


def _seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.01:
        return f"{value * 1000:.0f} ms"
    return f"{value * 1000:.2f} ms"


CMS_100K = "verify CAdES-BES 100kB"

GOALS: tuple[Goal, ...] = (
    Goal("`hash_file` (the `klikdok hash` path), Streebog-256, 256 MiB, throughput", "hash_file_256mib",
         "openssl_dgst_256mib", "speedup", 0.97, "`openssl dgst -md_gost12_256`"),
    Goal("`klikdok hash` on 256 MiB as a whole process, throughput", "cli hash 256 MiB: klikdok hash (process)",
         "cli hash 256 MiB: openssl dgst (process)", "speedup", 0.97, "`openssl dgst` process"),
    Goal("`klikdok hash` start to first output (3-byte file)", "cli start: klikdok hash (3-byte file)",
         "cli start: python -c pass", "over", 0.080, "`python -c pass`"),
    Goal("`klikdok --help` start to output", "cli start: klikdok --help", "cli start: python -c pass", "over", 0.080,
         "`python -c pass`"),
    Goal("`klikdok verify --help` start to output", "cli start: klikdok verify --help", "cli start: python -c pass",
         "over", 0.080, "`python -c pass`"),
    Goal("pure-Python Streebog-256 fallback, 64 KiB", "streebog256_64k_python", "streebog256_64k_gostcrypto",
         "speedup", 4.5, "`gostcrypto`"),
    Goal("verify one detached CAdES-BES, 100 kB, chain of two, 256-bit key, revocation from the CA's CRL",
         f"{CMS_100K}: cades.verify_cms", f"{CMS_100K}: OpenSSL CMS_verify (ctypes)", "time", 1.2,
         "OpenSSL `CMS_verify` in-process with the engine"),
    Goal("the same, the CRL from the server's warm cache", f"{CMS_100K}: cades.verify_cms, CRL from a warm cache",
         f"{CMS_100K}: OpenSSL CMS_verify (ctypes)", "time", 1.2, "OpenSSL `CMS_verify` in-process"),
    Goal("the same, 2,000 listed CA certificates in the trust store",
         f"{CMS_100K}: cades.verify_cms, 2000 listed CAs in the store", f"{CMS_100K}: OpenSSL CMS_verify (ctypes)",
         "time", 1.2, "OpenSSL `CMS_verify` in-process"),
    Goal("the same against a process per signature", f"{CMS_100K}: cades.verify_cms",
         f"{CMS_100K}: openssl cms -verify (process)", "speedup", 2.5, "`openssl cms -verify` process"),
    Goal("GOST R 34.10-2012 verify, 256-bit, pure Python", "verify256_python_int", "verify256_gostcrypto",
         "speedup", 40, "`gostcrypto`"),
    Goal("the same with gmpy2", "verify256_python_gmpy2", "verify256_gostcrypto", "speedup", 0, "`gostcrypto`"),
    Goal("GOST R 34.10-2012 verify, 512-bit, pure Python", "verify512_python_int", "verify512_gostcrypto",
         "speedup", 45, "`gostcrypto`"),
    Goal("the same with gmpy2", "verify512_python_gmpy2", "verify512_gostcrypto", "speedup", 0, "`gostcrypto`"),
    Goal("the same through the OpenSSL gost engine (256-bit)", "verify256_openssl"),
    Goal("the same through the OpenSSL gost engine (512-bit)", "verify512_openssl"),
    Goal("cold OCSP check: build, POST to loopback `openssl ocsp`, verify the GOST answer (CA-signed)",
         "cold OCSP check, CA-signed: build + POST + verify", kind="below", target=0.020),
    Goal("the same, delegated responder", "cold OCSP check, delegated responder: build + POST + verify", kind="below",
         target=0.020),
    Goal("CRM tab list, one deal with 10,000 documents (real HTTP), median", "crm_tab_list_10k_median",
         kind="below", target=0.050),
    Goal("create + send a document (real HTTP, emulated portal on the same machine), each", "create_send_one_doc_avg",
         kind="below", target=0.010),
    Goal("stamped copy of a 20-page PDF, 3 verified signatures and a QR code", "stamp_pdf 20 pages, 3 signatures",
         kind="below", target=0.300),
    Goal("verification protocol PDF, 100 signatures", "protocol PDF, 100 signatures", kind="below", target=1.0),
    Goal("selection protocol PDF, 20 documents of 5 signatures", "selection protocol PDF, 20 documents x 5 signatures"),
    Goal("1,000 agents: connected", "agents_1000_connect_all"),
    Goal("1,000 agents: a job delivered to each", "agents_1000_deliver_all"),
    Goal("batch signing through the agent, 100 x 1 MB, click to the last accepted signature",
         "batch sign 100 x 1 MB: agent (click to last accepted)", "batch sign 100 x 1 MB: openssl cms -sign x 100",
         "time", 1.3, "100 `openssl cms -sign` runs"),
)  # fmt: skip


def archive_goals(results: Mapping[str, float]) -> tuple[Goal, ...]:
    """The archive's goals, named by the run's own size and cores (``bench_archive.py``)."""
    ours = next((k for k in results if k.startswith("archive ") and "cades.archive on" in k), None)
    if ours is None:
        return ()
    prefix = ours.split(":")[0]
    cores = ours.split(" on ")[1].split()[0]
    return (
        Goal(f"`verify --archive`, {prefix.removeprefix('archive ')} of 100 kB-5 MB, on {cores} cores", ours,
             f"{prefix}: OpenSSL CMS_verify in-process, 1 core", "share", 0.9,
             "cores x OpenSSL `CMS_verify` in-process on one core"),
        Goal("the same against `openssl cms -verify` processes", ours,
             f"{prefix}: openssl cms -verify, xargs -P {cores}", "speedup", 3.0,
             f"`xargs -P {cores} openssl cms -verify`"),
        Goal("the same as the CLI, whole process", f"{prefix}: klikdok verify --archive (CLI, whole process)"),
    )  # fmt: skip


def rows(results: Mapping[str, float], cores: int) -> list[dict[str, object]]:
    """Every goal with its figures: what the summary prints and the README table shows."""
    out: list[dict[str, object]] = []
    for goal in (*GOALS, *archive_goals(results)):
        value = goal.value(results, cores)
        out.append(
            {
                "what": goal.what,
                "ours": results.get(goal.ours),
                "reference": results.get(goal.reference) if goal.reference else None,
                "reference_text": goal.reference_text,
                "value": value,
                "value_text": goal.value_text(value),
                "target_text": goal.target_text(),
                "met": goal.met(value),
            }
        )
    return out
