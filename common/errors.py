"""Exceptions shared by the server's and the agent's configuration, kept free of imports so that a command that
only catches them (``klikdok hash``) does not load the TOML and msgspec machinery."""


class ConfigError(Exception):
    """A configuration problem, already phrased as the one line the user sees."""
