"""JSON API routes (``/api/v1``): one module per resource."""
