"""The counterparty exchange: personal links, the public document page, signing or rejecting without an account.

- :mod:`.tokens`   — link tokens (256-bit, derived from a random nonce and a server key; only hashes stored);
- :mod:`.links`    — the ``counterparty_links`` table: issue, resolve, revoke, reminders due (sync, in-transaction);
- :mod:`.exchange` — what the public page does: view, upload a signature, reject (through the workflow's
  ``accept_signature`` and ``states.reject``);
- :mod:`.limiter`  — per-IP / per-token rate limits for the public endpoints;
- :mod:`.invitations` — the workflow listeners: invite on ``internal_signed`` (in that transaction), revoke on
  ``withdraw``;
- :mod:`.scheduler`— automatic reminders before the deadline;
- :mod:`.api`      — the manager's actions from the CRM tab (status, resend, remind), never showing the link.
"""
