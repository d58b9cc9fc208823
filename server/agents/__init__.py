"""Signing agents: pairing, device keys, the ``/agent/ws`` hub and job delivery (issue 6).

- :mod:`.tokens`  secrets (device keys, pairing codes) and their hashes;
- :mod:`.store`   SQL for agents, pairing codes, deliveries and results;
- :mod:`.protocol` the websocket messages;
- :mod:`.hub`     connections, dispatch, results (through :mod:`.port`, the workflow's acceptance);
- :mod:`.routes`  HTTP and websocket routes.
"""
