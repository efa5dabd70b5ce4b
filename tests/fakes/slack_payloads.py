"""Builders for the payloads Slack sends to an app, and request signing.

Shapes follow the Events API, slash command and interactivity references on
docs.slack.dev and the event envelopes in slackapi/slack-api-specs
(events-api/slack_events_api_async_v1.json). The builders are plain functions
so a test can also tweak the result before handing it to the fake.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

_last_ts_micros = 0


def _fresh_ts() -> str:
    """Return a new Slack-style ``seconds.microseconds`` ts, never repeated."""
    global _last_ts_micros
    now = int(time.time() * 1_000_000)
    _last_ts_micros = max(now, _last_ts_micros + 1)
    return f"{_last_ts_micros // 1_000_000}.{_last_ts_micros % 1_000_000:06d}"


def sign_request(signing_secret: str, timestamp: int | str, body: bytes) -> str:
    """Return the ``X-Slack-Signature`` value for a request body.

    Slack signs ``v0:{timestamp}:{body}`` with HMAC-SHA256 keyed by the app's
    signing secret and sends ``v0=`` plus the hex digest
    (docs.slack.dev/authentication/verifying-requests-from-slack).
    """
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return "v0=" + digest


def message_event(
    *,
    user: str,
    channel: str,
    text: str,
    ts: str | None = None,
    thread_ts: str | None = None,
    subtype: str | None = None,
    bot_id: str | None = None,
    files: list[dict[str, Any]] | None = None,
    channel_type: str = "im",
    team: str | None = None,
) -> dict[str, Any]:
    """Build a ``message`` event (a DM by default, ``channel_type="im"``)."""
    ts = ts or _fresh_ts()
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": channel_type,
    }
    if subtype is None and bot_id is None:
        event["client_msg_id"] = f"client-{ts}"
    if team is not None:
        event["team"] = team
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    if subtype is not None:
        event["subtype"] = subtype
    if bot_id is not None:
        event["bot_id"] = bot_id
    if files is not None:
        event["files"] = files
        event.setdefault("subtype", "file_share")
    return event


def message_changed_event(
    *,
    channel: str,
    message: dict[str, Any],
    previous_message: dict[str, Any],
    channel_type: str = "im",
) -> dict[str, Any]:
    """Build a ``message_changed`` event; ``message`` is the edited version."""
    event_ts = _fresh_ts()
    edited = dict(message)
    edited.setdefault("edited", {"user": message.get("user"), "ts": event_ts})
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": channel,
        "channel_type": channel_type,
        "ts": event_ts,
        "event_ts": event_ts,
        "message": edited,
        "previous_message": previous_message,
    }


def message_deleted_event(
    *,
    channel: str,
    deleted_ts: str,
    previous_message: dict[str, Any] | None = None,
    channel_type: str = "im",
) -> dict[str, Any]:
    """Build a ``message_deleted`` event for the message at ``deleted_ts``."""
    event_ts = _fresh_ts()
    event: dict[str, Any] = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": channel,
        "channel_type": channel_type,
        "ts": event_ts,
        "event_ts": event_ts,
        "deleted_ts": deleted_ts,
    }
    if previous_message is not None:
        event["previous_message"] = previous_message
    return event


def file_object(
    file_id: str, *, name: str = "notes.txt", user: str, mimetype: str = "text/plain"
) -> dict[str, Any]:
    """Build a minimal file object as message and file events carry it."""
    return {
        "id": file_id,
        "name": name,
        "title": name,
        "mimetype": mimetype,
        "filetype": name.rsplit(".", 1)[-1] if "." in name else "binary",
        "user": user,
        "size": 0,
        "url_private": f"https://files.example.invalid/{file_id}/{name}",
    }


def file_share_event(
    *, user: str, channel: str, files: list[dict[str, Any]], text: str = ""
) -> dict[str, Any]:
    """Build a ``message`` event with subtype ``file_share``."""
    return message_event(
        user=user, channel=channel, text=text, subtype="file_share", files=files
    )


def file_shared_event(*, file_id: str, user: str, channel: str) -> dict[str, Any]:
    """Build a ``file_shared`` event."""
    event_ts = _fresh_ts()
    return {
        "type": "file_shared",
        "file_id": file_id,
        "file": {"id": file_id},
        "user_id": user,
        "channel_id": channel,
        "event_ts": event_ts,
    }


def app_home_opened_event(
    *, user: str, channel: str, tab: str = "home", view: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build an ``app_home_opened`` event (``tab`` is "home" or "messages")."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": tab,
        "event_ts": _fresh_ts(),
    }
    if view is not None:
        event["view"] = view
    return event


def event_callback(
    event: dict[str, Any],
    *,
    team_id: str,
    api_app_id: str,
    bot_user_id: str,
    event_id: str,
    event_time: int | None = None,
) -> dict[str, Any]:
    """Wrap an event in the ``event_callback`` envelope of the Events API."""
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time if event_time is not None else int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"context-{event_id}",
    }


def slash_command_form(
    *,
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    team_id: str,
    api_app_id: str,
    response_url: str,
    trigger_id: str,
    user_name: str = "participant",
    channel_name: str = "directmessage",
) -> dict[str, str]:
    """Build the form fields Slack posts for a slash command."""
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "team_domain": "fake-workspace",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def button_action(
    action_id: str, value: str = "", *, block_id: str = "actions", text: str = "OK"
) -> dict[str, Any]:
    """Build one clicked-button entry for a ``block_actions`` payload."""
    return {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "value": value,
        "action_ts": _fresh_ts(),
    }


def block_actions_payload(
    *,
    user_id: str,
    actions: list[dict[str, Any]],
    team_id: str,
    api_app_id: str,
    trigger_id: str,
    response_url: str | None = None,
    channel_id: str | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a ``block_actions`` payload from a message or from a view."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "legacy-verification-token",
        "team": {"id": team_id, "domain": "fake-workspace"},
        "trigger_id": trigger_id,
        "actions": actions,
        "is_enterprise_install": False,
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id")}
        payload["view"] = view
    else:
        ts = (message or {}).get("ts", "")
        payload["container"] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        payload["channel"] = {"id": channel_id, "name": "directmessage"}
        payload["message"] = message or {}
        payload["response_url"] = response_url
    return payload


def view_submission_payload(
    *,
    user_id: str,
    view: dict[str, Any],
    values: dict[str, Any],
    team_id: str,
    api_app_id: str,
    trigger_id: str,
    response_urls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Build a ``view_submission`` payload; ``values`` is ``state.values``."""
    submitted = dict(view)
    submitted.setdefault("id", "V0FAKEVIEW")
    submitted.setdefault("team_id", team_id)
    submitted.setdefault("app_id", api_app_id)
    submitted.setdefault("hash", "fake-hash")
    submitted["state"] = {"values": values}
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake-workspace"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "legacy-verification-token",
        "trigger_id": trigger_id,
        "view": submitted,
        "response_urls": response_urls or [],
        "is_enterprise_install": False,
    }
