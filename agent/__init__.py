"""The KlikDok agent: signs the server's jobs on the signer's computer."""

import sys

# httpx imports its own command-line client at import time, and with it click, rich and pygments: 0.3 s of every
# start of a KlikDok process (server, CLI command, agent, hundreds in the test suite), for a program we never run.
# A ``None`` entry makes that one import fail, which httpx handles by leaving its ``main`` out.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # a None entry is how the import system blocks a module
