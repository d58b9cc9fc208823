"""Bitrix24 integration: the REST client and typed services over it.

Entry points: `Bitrix24Client` (one per portal), `PortalSettings` (the `[portal]` config section),
`TokenStore` (where refreshed OAuth tokens go) and the services `CrmService`, `UserDirectory`,
`DepartmentDirectory`, `DiskService`, `Messenger`, `ApplicationService`.
"""

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
