"""KlikDok server: HTTP API, pages, workflow, storage and the Bitrix24 integration."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("klikdok")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
