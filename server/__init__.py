"""KlikDok server: HTTP API, pages, workflow, storage and the Bitrix24 integration."""

import sys
from typing import Any

# httpx imports its own command-line client at import time, and with it click, rich and pygments: 0.3 s of every
# start of a KlikDok process (server, CLI command, agent, hundreds in the test suite), for a program we never run.
# A ``None`` entry makes that one import fail, which httpx handles by leaving its ``main`` out.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # a None entry is how the import system blocks a module

__version__: str


def __getattr__(name: str) -> Any:
    # The version is looked up on first use: importlib.metadata costs 70 ms of every `klikdok hash`.
    if name != "__version__":
        raise AttributeError(f"module 'server' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("klikdok")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
