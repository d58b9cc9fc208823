"""What the server and the agent share without importing each other: the TOML loader and the /agent/ws format.

Neither belongs in ``cades`` (the signature library), and ``server`` and ``agent`` may not import one another,
so both live here. Imports nothing of ours.
"""
