"""The agent's frames as the server reads them: an id SQLite cannot hold is a bad frame, not a server error.

Found by the fuzz harness (tests/fuzz, parser ``frames``): ``failure`` with ``job_id`` 2**63 decoded, and the
hub's database lookup raised OverflowError ("Python int too large to convert to SQLite INTEGER"); the hub
answered ``error``/``internal`` and logged a traceback for what is only an unreadable frame.
"""

from __future__ import annotations

import json

import msgspec
import pytest

from common.agent_protocol import Failure, decode_agent

TOO_BIG = 2**63  # one past SQLite's largest INTEGER
FRAMES = {
    "ack": {"type": "ack", "job_id": 5, "delivery_id": 1},
    "nack": {"type": "nack", "job_id": 5, "delivery_id": 1, "reason": "queue_full"},
    "result": {"type": "result", "job_id": 5, "result_id": "r1", "signatures": [{"file_id": 9, "cms": "MA=="}]},
    "failure": {"type": "failure", "job_id": 5, "result_id": "r2", "code": "declined"},
    "cryptoarm_open": {"type": "cryptoarm_open", "request_id": "q", "job_ids": [5]},
}


def _with(frame: dict[str, object], value: int) -> dict[str, object]:
    """The frame with every id set to ``value``."""
    out = json.loads(json.dumps(frame))
    for key in ("job_id", "delivery_id"):
        if key in out:
            out[key] = value
    if "job_ids" in out:
        out["job_ids"] = [value]
    for signature in out.get("signatures", []):
        signature["file_id"] = value
    return out


@pytest.mark.parametrize("kind", list(FRAMES))
def test_an_id_beyond_sqlite_integer_is_an_unreadable_frame(kind: str) -> None:
    assert decode_agent(json.dumps(_with(FRAMES[kind], 2**63 - 1)))  # the largest SQLite INTEGER is fine
    with pytest.raises(msgspec.ValidationError):
        decode_agent(json.dumps(_with(FRAMES[kind], TOO_BIG)))
    with pytest.raises(msgspec.ValidationError):
        decode_agent(json.dumps(_with(FRAMES[kind], -(2**63) - 1)))


def test_an_ordinary_failure_still_decodes() -> None:
    assert decode_agent(json.dumps(FRAMES["failure"])) == Failure(job_id=5, result_id="r2", code="declined")
