"""Notifications (`im.notify.system.add`) and CRM timeline comments (`crm.timeline.comment.add`).

Each has a `*_command` builder as well as a direct call, so the outbox worker can send a whole queue as
`batch` requests (50 per request: about 100 notifications a second on a 2 req/s portal).
"""

from __future__ import annotations

from .client import Bitrix24Client, Command
from .convert import to_int

# The timeline's ENTITY_TYPE: a registered CRM kind's code (`server.bitrix24.entities`) is one as it stands.
TimelineEntity = str


def _bb_escape(text: str) -> str:
    """Square brackets would be read as BB-codes by the messenger."""
    return text.replace("[", "(").replace("]", ")")


def notify_command(
    user_id: int,
    message: str,
    *,
    link_url: str | None = None,
    link_title: str | None = None,
    tag: str | None = None,
    message_out: str | None = None,
    client_id: str | None = None,
) -> Command:
    """A system notification for one user; with `link_url` the message ends with a clickable link.

    client_id: the application's id for a call through an inbound webhook, where Bitrix's schema requires
        `CLIENT_ID` with `TAG` (an application's own token already names it; pass None then).
    """
    text = message.strip()
    if link_url:
        text += f" [URL={link_url}]{_bb_escape(link_title or 'Открыть')}[/URL]"
    params: dict[str, object] = {"USER_ID": user_id, "MESSAGE": text}
    if message_out:
        params["MESSAGE_OUT"] = message_out + (f" {link_url}" if link_url else "")
    if tag:
        params["TAG"] = tag
        if client_id:
            params["CLIENT_ID"] = client_id
    return "im.notify.system.add", params


def timeline_comment_command(entity: TimelineEntity, entity_id: int, comment: str) -> Command:
    # Since crm 23.100.0 only the lower-case `fields` key is accepted.
    return "crm.timeline.comment.add", {"fields": {"ENTITY_ID": entity_id, "ENTITY_TYPE": entity, "COMMENT": comment}}


class Messenger:
    """Direct (non-batched) sends, for interactive actions."""

    def __init__(self, client: Bitrix24Client) -> None:
        self.client = client

    async def notify(self, user_id: int, message: str, **kwargs: str | None) -> int | None:
        """Returns the notification id (the portal may answer `false` when nothing was created)."""
        method, params = notify_command(user_id, message, client_id=self.client.notify_client_id, **kwargs)
        return to_int(await self.client.call(method, params))

    async def timeline_comment(self, entity: TimelineEntity, entity_id: int, comment: str) -> int | None:
        method, params = timeline_comment_command(entity, entity_id, comment)
        return to_int(await self.client.call(method, params))
