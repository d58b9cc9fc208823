"""`make run` without a real portal: the launcher (``python -m demo.launcher``) and the Bitrix24 portal emulator.

The emulator is a real HTTP server speaking the portal's documented REST, OAuth and frame protocols; the test
suites use it as their portal too and import it from here. Nothing here is shipped in the .deb, and the
server, the agent, ``cades`` and ``common`` never import it (import-linter contract in pyproject.toml).
"""
