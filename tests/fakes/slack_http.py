"""HTTP traffic between the fake Slack and the app under test.

Deliveries to the app (Events API requests, slash commands, interactivity)
are signed the way Slack signs them and timed, so tests can check the 3-second
acknowledgement window. Posts from the app to a ``response_url`` are checked
against the message limits and applied like Slack applies them (ephemeral
reply, ``in_channel`` message, ``replace_original``, ``delete_original``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp.web import Request, Response, json_response

from tests.fakes import slack_payloads as payloads
from tests.fakes.slack_blocks import Problem, check_message
from tests.fakes.slack_limits import limit
from tests.fakes.slack_records import (
    Ack,
    Clock,
    EphemeralMessage,
    MessageUpdate,
    ResponseUrlPost,
)
from tests.fakes.slack_state import Workspace
from tests.fakes.slack_web import WebApi

logger = logging.getLogger(__name__)


@dataclass
class Delivery:
    """The app's response to one HTTP delivery (event, command, action)."""

    status: int
    body: str
    elapsed: float
    headers: dict[str, str]
    request_body: bytes
    id: str
    response_url: str | None = None
    trigger_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        """Decode the app's response body as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None


class HttpTraffic:
    """Mixin of :class:`tests.fakes.slack.FakeSlack` for HTTP deliveries."""

    team_id: str
    app_id: str
    bot_user_id: str
    signing_secret: str
    clock: Clock
    workspace: Workspace
    web: WebApi
    acks: list[Ack]
    _session: aiohttp.ClientSession | None

    @property
    def base_url(self) -> str:
        raise NotImplementedError

    def _check_ack(self, ack: Ack, kind: str) -> None:
        raise NotImplementedError

    # -- response_url ----------------------------------------------------------

    async def _handle_response_url(self, request: Request) -> Response:
        token = request.match_info["token"]
        state = self.workspace.response_urls.get(token)
        if state is None:
            return Response(status=404, text="invalid_url", content_type="text/plain")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return self._response_url_answer(token, {}, 400, "invalid_payload")
        now = self.clock.monotonic()
        state.uses += 1
        # NOTE: the limits (30 minutes, five uses) are documented, but the
        # error names expired_url and used_url are assumptions.
        if now - state.issued_at > limit("response_url.seconds"):
            return self._response_url_answer(token, body, 404, "expired_url")
        if state.uses > limit("response_url.uses"):
            problem = Problem(
                "response_url.uses",
                "/response_url",
                "used_url",
                "error",
                limit("response_url.uses"),
                state.uses,
            )
            self.workspace.record_problems("response_url", [problem])
            return self._response_url_answer(token, body, 404, "used_url")
        if not body.get("delete_original"):
            errors = self.workspace.record_problems("response_url", check_message(body))
            if errors:
                # Response URLs, like incoming webhooks, return errors as
                # text/plain with HTTP 400 (e.g. "invalid_blocks").
                error = _webhook_error(errors)
                return self._response_url_answer(token, body, 400, error)
        self._apply_response_url(
            state.channel_id, state.user_id, state.message_ts, body
        )
        return self._response_url_answer(token, body, 200, "")

    def _response_url_answer(
        self, token: str, body: dict[str, Any], status: int, error: str
    ) -> Response:
        post = ResponseUrlPost(token, body, self.clock.monotonic(), status)
        self.workspace.response_url_posts.append(post)
        if status != 200:
            logger.info("Fake Slack response_url returned %s (HTTP %s)", error, status)
            return Response(status=status, text=error, content_type="text/plain")
        return json_response({"ok": True})

    def _apply_response_url(
        self,
        channel_id: str | None,
        user_id: str,
        message_ts: str | None,
        body: dict[str, Any],
    ) -> None:
        ws = self.workspace
        original = (
            ws.find_message(channel_id, message_ts)
            if channel_id and message_ts
            else None
        )
        if body.get("delete_original"):
            if original is not None:
                original.deleted = True
            return
        text = str(body.get("text") or "")[: limit("message.text")]
        if body.get("replace_original") and original is not None:
            original.text = text
            original.blocks = body.get("blocks")
            original.edited = True
            update = MessageUpdate(
                original.channel,
                original.ts,
                text,
                original.blocks,
                self.clock.monotonic(),
            )
            ws.updates.append(update)
            return
        if channel_id is None:
            return
        if body.get("response_type") == "in_channel":
            channel = ws.channels.get(channel_id)
            if channel is not None:
                self.web.store_bot_message(channel, {**body, "text": text})
            return
        ws.ephemeral.append(
            EphemeralMessage(
                channel=channel_id,
                user=user_id,
                ts=ws.next_ts(),
                text=text,
                blocks=body.get("blocks"),
            )
        )

    # -- HTTP deliveries (Events API, commands, interactivity) -----------------

    def _signed_headers(
        self, body: bytes, timestamp: int | None, bad_signature: bool
    ) -> dict[str, str]:
        stamp = timestamp if timestamp is not None else int(time.time())
        signature = payloads.sign_request(self.signing_secret, stamp, body)
        if bad_signature:
            signature = payloads.sign_request(
                "wrong-" + self.signing_secret, stamp, body
            )
        return {
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": signature,
        }

    async def _deliver(
        self,
        url: str,
        body: bytes,
        *,
        content_type: str,
        kind: str,
        delivery_id: str,
        timestamp: int | None,
        bad_signature: bool,
        tampered_body: bytes | None,
        extra_headers: Mapping[str, str] | None = None,
        request_timeout: float = 10.0,
    ) -> Delivery:
        if self._session is None:
            raise RuntimeError("FakeSlack is not started; use 'async with FakeSlack()'")
        headers = self._signed_headers(body, timestamp, bad_signature)
        headers["Content-Type"] = content_type
        headers["User-Agent"] = "Slackbot 1.0 (+https://api.slack.com/robots)"
        headers.update(extra_headers or {})
        sent_body = tampered_body if tampered_body is not None else body
        sent_at = time.monotonic()
        async with self._session.post(
            url,
            data=sent_body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=request_timeout),
        ) as response:
            text = await response.text()
            acked_at = time.monotonic()
            answer_headers = dict(response.headers)
            status = response.status
        answer_payload: Any = None
        if (
            answer_headers.get("Content-Type", "").startswith("application/json")
            and text
        ):
            answer_payload = json.loads(text)
        elif text:
            answer_payload = {"text": text}
        ack = Ack(
            f"http:{kind}", delivery_id, sent_at, acked_at, status, answer_payload
        )
        if status == 200:
            self._check_ack(ack, kind)
        else:
            self.acks.append(ack)
        return Delivery(
            status=status,
            body=text,
            elapsed=acked_at - sent_at,
            headers=answer_headers,
            request_body=sent_body,
            id=delivery_id,
        )

    async def post_event(
        self,
        url: str,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: int | None = None,
        bad_signature: bool = False,
        tamper_body: bool = False,
        request_timeout: float = 10.0,
    ) -> Delivery:
        """Post a signed Events API request carrying ``event`` to the app.

        ``event`` is wrapped in an ``event_callback`` envelope unless it
        already has a top-level ``type`` of ``event_callback`` or
        ``url_verification``. ``timestamp`` overrides the signed timestamp
        (an old one tests stale-request rejection); ``tamper_body`` changes
        the body after signing.
        """
        event_id = event_id or f"Ev{self.workspace.new_id('')}"
        if event.get("type") in ("event_callback", "url_verification"):
            envelope = event
        else:
            envelope = payloads.event_callback(
                event,
                team_id=self.team_id,
                api_app_id=self.app_id,
                bot_user_id=self.bot_user_id,
                event_id=event_id,
            )
        body = json.dumps(envelope).encode()
        tampered = (
            json.dumps({**envelope, "tampered": True}).encode() if tamper_body else None
        )
        extra: dict[str, str] = {}
        if retry_num is not None:
            extra["X-Slack-Retry-Num"] = str(retry_num)
            extra["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        delivery = await self._deliver(
            url,
            body,
            content_type="application/json",
            kind="events_api",
            delivery_id=event_id,
            timestamp=timestamp,
            bad_signature=bad_signature,
            tampered_body=tampered,
            extra_headers=extra,
            request_timeout=request_timeout,
        )
        delivery.payload = envelope
        return delivery

    def slash_command(
        self,
        text: str,
        *,
        user_id: str,
        channel_id: str,
        command: str = "/perspective",
    ) -> dict[str, str]:
        """Build a slash command form with a fresh response_url and trigger_id.

        ``channel_name`` is what Slack sends: the channel's name, "privategroup"
        for a private channel the app cannot see, and "directmessage" in a DM.
        """
        channel = self.workspace.find_channel(channel_id)
        if channel is None or channel.kind == "im":
            channel_name = (
                "directmessage" if channel_id.startswith("D") else "privategroup"
            )
        elif channel.kind == "private" and self.bot_user_id not in channel.members:
            channel_name = "privategroup"
        else:
            channel_name = channel.name
        return payloads.slash_command_form(
            command=command,
            text=text,
            user_id=user_id,
            channel_id=channel_id,
            channel_name=channel_name,
            team_id=self.team_id,
            api_app_id=self.app_id,
            response_url=self.workspace.issue_response_url(
                self.base_url, user_id=user_id, channel_id=channel_id
            ),
            trigger_id=self.workspace.issue_trigger(user_id),
        )

    async def post_command(
        self,
        url: str,
        text: str,
        *,
        user_id: str,
        channel_id: str,
        command: str = "/perspective",
        timestamp: int | None = None,
        bad_signature: bool = False,
        tamper_body: bool = False,
        request_timeout: float = 10.0,
    ) -> Delivery:
        """Post a signed slash command; the result carries its response_url."""
        form = self.slash_command(
            text, user_id=user_id, channel_id=channel_id, command=command
        )
        body = urlencode(form).encode()
        tampered = urlencode({**form, "text": text + " tampered"}).encode()
        delivery = await self._deliver(
            url,
            body,
            content_type="application/x-www-form-urlencoded",
            kind="slash_commands",
            delivery_id=form["trigger_id"],
            timestamp=timestamp,
            bad_signature=bad_signature,
            tampered_body=tampered if tamper_body else None,
            request_timeout=request_timeout,
        )
        delivery.response_url = form["response_url"]
        delivery.trigger_id = form["trigger_id"]
        delivery.payload = dict(form)
        return delivery

    def block_actions(
        self,
        user_id: str,
        actions: list[dict[str, Any]],
        *,
        channel_id: str | None = None,
        message: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Build a block_actions payload with a fresh trigger_id and response_url."""
        response_url = None
        if view is None:
            response_url = self.workspace.issue_response_url(
                self.base_url,
                user_id=user_id,
                channel_id=channel_id,
                message_ts=(message or {}).get("ts"),
            )
        return payloads.block_actions_payload(
            user_id=user_id,
            actions=actions,
            team_id=self.team_id,
            api_app_id=self.app_id,
            trigger_id=self.workspace.issue_trigger(user_id),
            response_url=response_url,
            channel_id=channel_id,
            message=message,
            view=view,
        )

    def view_submission(
        self, user_id: str, view: dict[str, Any], values: dict[str, Any]
    ) -> dict[str, Any]:
        """Build a view_submission payload with a fresh trigger_id."""
        return payloads.view_submission_payload(
            user_id=user_id,
            view=view,
            values=values,
            team_id=self.team_id,
            api_app_id=self.app_id,
            trigger_id=self.workspace.issue_trigger(user_id),
        )

    async def post_interaction(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        timestamp: int | None = None,
        bad_signature: bool = False,
        tamper_body: bool = False,
        request_timeout: float = 10.0,
    ) -> Delivery:
        """Post a signed interactivity request (form field ``payload``)."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        tampered = urlencode({"payload": json.dumps({**payload, "x": 1})}).encode()
        delivery = await self._deliver(
            url,
            body,
            content_type="application/x-www-form-urlencoded",
            kind="interactive",
            delivery_id=str(payload.get("trigger_id", "")),
            timestamp=timestamp,
            bad_signature=bad_signature,
            tampered_body=tampered if tamper_body else None,
            request_timeout=request_timeout,
        )
        delivery.response_url = payload.get("response_url")
        delivery.trigger_id = payload.get("trigger_id")
        delivery.payload = payload
        return delivery


def _webhook_error(errors: list[Problem]) -> str:
    rules = {problem.rule for problem in errors}
    if "message.no_text" in rules:
        return "no_text"
    if "message.attachments" in rules:
        return "too_many_attachments"
    return "invalid_blocks"
