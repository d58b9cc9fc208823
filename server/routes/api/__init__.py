"""The JSON API (``/api/v1``) the portal pages call, one module per resource, plus ``/healthz`` and the schema."""
