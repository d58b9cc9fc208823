"""The Bitrix24 portal as the server knows it: install, sessions, the directory cache."""
