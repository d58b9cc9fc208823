"""A child process for the crash test: streams audited writes and acknowledges each after commit.

Run as ``python -m tests.foundation.audit_writer DB [PAUSE]``; prints one committed row id per line. With
PAUSE (seconds) each writer rests between its writes, so a long run keeps the log small enough to verify often.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from server.db import Database, audit, migrations


async def main(path: Path, pause: float = 0.0) -> None:
    db = Database(path)
    db.open()
    db.write_sync(migrations.apply, transaction=False)

    async def writer(n: int) -> None:
        i = 0
        while True:
            i += 1
            row = await db.write(
                lambda d, i=i: audit.append(
                    d, actor=f"writer:{n}", action="test.write", details={"i": i, "payload": "x" * 200}
                )
            )
            print(row, flush=True)
            if pause:
                await asyncio.sleep(pause)

    await asyncio.gather(*(writer(n) for n in range(4)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0))
