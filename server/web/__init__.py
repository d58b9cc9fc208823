"""Pages: the portal app (``b24``), the public counterparty pages and the streaming upload parser."""
