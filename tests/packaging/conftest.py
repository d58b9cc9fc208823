"""Registers the `deb` marker used by the package install test."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "deb: builds the .deb packages and installs them into a debootstrap root "
        "(root only, minutes; runs when KLIKDOK_DEB_TEST=1)",
    )
