"""Bitrix24 integration: the REST client and typed services over it.

Entry points: `Bitrix24Client` (one per portal), `PortalSettings` (the `[portal]` config section),
`TokenStore` (where refreshed OAuth tokens go) and the services `CrmService`, `UserDirectory`,
`DepartmentDirectory`, `DiskService`, `Messenger`, `ApplicationService`.

Why lazy: ``server.config`` reads ``PortalSettings`` from here, and every command that reads the configuration
(``klikdok verify`` for its trust store) would otherwise load the REST client, httpx and the services. A name is
imported from its module on first use (PEP 562); type checkers read the imports below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .application import COMPANY_TAB, DEAL_TAB, AppInfo, ApplicationService, Binding, app_page_path
    from .client import BatchResult, Bitrix24Client, is_read_method
    from .crm import Company, Contact, CrmService, Deal, Requisite
    from .disk import DiskFile, DiskFolder, DiskService, FolderIndex, MemoryFolderIndex
    from .errors import (
        AccessDenied,
        AlreadyExists,
        AuthError,
        BadResponse,
        BatchError,
        Bitrix24Error,
        ExpiredToken,
        InvalidArgument,
        InvalidToken,
        MethodNotFound,
        NotFound,
        OAuthError,
        OperationTimeLimit,
        PortalDeleted,
        RateLimited,
        ServerError,
        TransportError,
        WrongAuthType,
    )
    from .limiter import bulk_lane
    from .messaging import Messenger, notify_command, timeline_comment_command
    from .settings import PortalSettings
    from .tokens import MemoryTokenStore, OAuthTokens, TokenStore
    from .users import Department, DepartmentDirectory, User, UserDirectory

_WHERE: dict[str, str] = {
    "COMPANY_TAB": "application",
    "DEAL_TAB": "application",
    "AppInfo": "application",
    "ApplicationService": "application",
    "Binding": "application",
    "app_page_path": "application",
    "BatchResult": "client",
    "Bitrix24Client": "client",
    "is_read_method": "client",
    "Company": "crm",
    "Contact": "crm",
    "CrmService": "crm",
    "Deal": "crm",
    "Requisite": "crm",
    "DiskFile": "disk",
    "DiskFolder": "disk",
    "DiskService": "disk",
    "FolderIndex": "disk",
    "MemoryFolderIndex": "disk",
    "AccessDenied": "errors",
    "AlreadyExists": "errors",
    "AuthError": "errors",
    "BadResponse": "errors",
    "BatchError": "errors",
    "Bitrix24Error": "errors",
    "ExpiredToken": "errors",
    "InvalidArgument": "errors",
    "InvalidToken": "errors",
    "MethodNotFound": "errors",
    "NotFound": "errors",
    "OAuthError": "errors",
    "OperationTimeLimit": "errors",
    "PortalDeleted": "errors",
    "RateLimited": "errors",
    "ServerError": "errors",
    "TransportError": "errors",
    "WrongAuthType": "errors",
    "bulk_lane": "limiter",
    "Messenger": "messaging",
    "notify_command": "messaging",
    "timeline_comment_command": "messaging",
    "PortalSettings": "settings",
    "MemoryTokenStore": "tokens",
    "OAuthTokens": "tokens",
    "TokenStore": "tokens",
    "Department": "users",
    "DepartmentDirectory": "users",
    "User": "users",
    "UserDirectory": "users",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "COMPANY_TAB",
    "DEAL_TAB",
    "AccessDenied",
    "AlreadyExists",
    "AppInfo",
    "ApplicationService",
    "app_page_path",
    "AuthError",
    "BadResponse",
    "BatchError",
    "BatchResult",
    "Binding",
    "Bitrix24Client",
    "Bitrix24Error",
    "Company",
    "Contact",
    "CrmService",
    "Deal",
    "Department",
    "DepartmentDirectory",
    "DiskFile",
    "DiskFolder",
    "DiskService",
    "ExpiredToken",
    "FolderIndex",
    "InvalidArgument",
    "InvalidToken",
    "MemoryFolderIndex",
    "MemoryTokenStore",
    "Messenger",
    "MethodNotFound",
    "NotFound",
    "OAuthError",
    "OAuthTokens",
    "OperationTimeLimit",
    "PortalDeleted",
    "PortalSettings",
    "RateLimited",
    "Requisite",
    "ServerError",
    "TokenStore",
    "TransportError",
    "User",
    "UserDirectory",
    "WrongAuthType",
    "bulk_lane",
    "is_read_method",
    "notify_command",
    "timeline_comment_command",
]
