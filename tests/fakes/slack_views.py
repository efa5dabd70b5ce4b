"""views.* and files.* methods of the fake Slack Web API.

Modals need a fresh trigger_id (3 seconds, single use) and stack at most three
deep; Home tabs are published per user. File uploads follow the path of
slack_sdk's ``files_upload_v2``: files.getUploadURLExternal, a raw POST to the
returned upload URL (served by the fake), then files.completeUploadExternal.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tests.fakes.slack_blocks import Problem, check_view
from tests.fakes.slack_limits import limit
from tests.fakes.slack_records import Channel, Message, UploadedFile, View
from tests.fakes.slack_state import (
    CallContext,
    SlackError,
    Workspace,
    block_error,
    parse_json_argument,
)

ViewHandler = Callable[[dict[str, Any], CallContext], Awaitable[dict[str, Any]]]


class ViewMethods:
    """Mixin of :class:`tests.fakes.slack_web.WebApi` for views and files."""

    ws: Workspace

    def _channel_for_post(self, reference: object) -> Channel:
        raise NotImplementedError

    def store_bot_message(
        self,
        channel: Channel,
        payload: Mapping[str, Any],
        files: list[Any] | None = None,
    ) -> Message:
        raise NotImplementedError

    def view_and_file_handlers(self) -> dict[str, ViewHandler]:
        return {
            "views.open": self.views_open,
            "views.push": self.views_push,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "files.getUploadURLExternal": self.files_get_upload_url_external,
            "files.completeUploadExternal": self.files_complete_upload_external,
        }

    # -- views -----------------------------------------------------------------

    def _checked_view(
        self, args: dict[str, Any], expected_type: str, surface: str
    ) -> dict[str, Any]:
        view = parse_json_argument(args.get("view"), "invalid_arguments")
        errors = self.ws.record_problems(
            surface, check_view(view, expected_type=expected_type)
        )
        if errors:
            # views.* report invalid views as invalid_arguments with the same
            # "[ERROR] ... [json-pointer:/view/...]" messages as invalid_blocks.
            raise block_error(errors, "invalid_arguments")
        assert isinstance(view, dict)
        external_id = view.get("external_id")
        if external_id is not None:
            for existing in self.ws.views.values():
                same = existing.view.get("external_id") == external_id
                if same and not existing.closed:
                    raise SlackError("duplicate_external_id")
        return view

    def _record_view(
        self,
        view: dict[str, Any],
        *,
        user_id: str,
        method: str,
        view_id: str | None = None,
        root: str | None = None,
        previous: str | None = None,
    ) -> View:
        view_id = view_id or self.ws.new_id("V")
        digest = hashlib.sha1(repr((view_id, view, self.ws.next_ts())).encode())
        record = View(
            id=view_id,
            type=str(view.get("type")),
            user_id=user_id,
            view=view,
            hash=digest.hexdigest()[:20],
            method=method,
            root_view_id=root or view_id,
            previous_view_id=previous,
        )
        self.ws.views[view_id] = record
        self.ws.view_log.append(record)
        return record

    def _view_json(self, record: View) -> dict[str, Any]:
        body = dict(record.view)
        body.update(
            {
                "id": record.id,
                "team_id": self.ws.team_id,
                "app_id": self.ws.app_id,
                "bot_id": self.ws.bot_id,
                "hash": record.hash,
                "root_view_id": record.root_view_id,
                "previous_view_id": record.previous_view_id,
                "state": {"values": {}},
            }
        )
        body.setdefault("private_metadata", "")
        body.setdefault("callback_id", "")
        return body

    def _trigger_user(self, args: dict[str, Any]) -> str:
        user_id, error = self.ws.use_trigger(args.get("trigger_id"))
        if error is not None or user_id is None:
            raise SlackError(error or "invalid_trigger_id")
        return user_id

    async def views_open(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        user_id = self._trigger_user(args)
        view = self._checked_view(args, "modal", ctx.method)
        for old_id in self.ws.modal_stacks.get(user_id, []):
            self.ws.views[old_id].closed = True
        record = self._record_view(view, user_id=user_id, method=ctx.method)
        self.ws.modal_stacks[user_id] = [record.id]
        return {"view": self._view_json(record)}

    async def views_push(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        user_id = self._trigger_user(args)
        view = self._checked_view(args, "modal", ctx.method)
        stack = self.ws.modal_stacks.setdefault(user_id, [])
        if len(stack) >= limit("modal.stack"):
            self.ws.record_problems(
                ctx.method,
                [_stack_problem(len(stack) + 1)],
            )
            raise SlackError("push_limit_reached")
        record = self._record_view(
            view,
            user_id=user_id,
            method=ctx.method,
            root=stack[0] if stack else None,
            previous=stack[-1] if stack else None,
        )
        stack.append(record.id)
        return {"view": self._view_json(record)}

    async def views_update(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        existing = self.ws.views.get(str(args.get("view_id", "")))
        if existing is None and args.get("external_id"):
            for candidate in self.ws.views.values():
                if candidate.view.get("external_id") == args["external_id"]:
                    existing = candidate
        if existing is None or existing.closed:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != existing.hash:
            raise SlackError("hash_conflict")
        view = parse_json_argument(args.get("view"), "invalid_arguments")
        if isinstance(view, dict) and view.get("external_id") == existing.view.get(
            "external_id"
        ):
            # Updating a view under its own external_id is not a duplicate.
            args = {
                **args,
                "view": {k: v for k, v in view.items() if k != "external_id"},
            }
        view = self._checked_view(args, existing.type, ctx.method)
        if existing.view.get("external_id") is not None:
            view.setdefault("external_id", existing.view["external_id"])
        record = self._record_view(
            view,
            user_id=existing.user_id,
            method=ctx.method,
            view_id=existing.id,
            root=existing.root_view_id,
            previous=existing.previous_view_id,
        )
        if record.type == "home":
            self.ws.home_views[record.user_id] = record
        return {"view": self._view_json(record)}

    async def views_publish(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        user_id = str(args.get("user_id", ""))
        if user_id not in self.ws.users:
            raise SlackError("user_not_found")
        current = self.ws.home_views.get(user_id)
        if args.get("hash") and current is not None and args["hash"] != current.hash:
            raise SlackError("hash_conflict")
        view = self._checked_view(args, "home", ctx.method)
        record = self._record_view(
            view,
            user_id=user_id,
            method=ctx.method,
            view_id=current.id if current is not None else None,
        )
        self.ws.home_views[user_id] = record
        return {"view": self._view_json(record)}

    # -- files -----------------------------------------------------------------

    async def files_get_upload_url_external(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        filename = args.get("filename")
        try:
            length = int(args.get("length", ""))
        except (TypeError, ValueError) as exc:
            raise SlackError("invalid_arguments") from exc
        if not isinstance(filename, str) or not filename or length < 0:
            raise SlackError("invalid_arguments")
        file_id = self.ws.new_id("F")
        key = f"{file_id}-{hashlib.sha1(file_id.encode()).hexdigest()[:8]}"
        self.ws.files[file_id] = UploadedFile(
            id=file_id, filename=filename, length=length, upload_key=key
        )
        return {"upload_url": f"{ctx.base_url}upload/v1/{key}", "file_id": file_id}

    def receive_upload(self, key: str, content: bytes) -> tuple[int, str]:
        """Store the bytes posted to an upload URL; return status and body."""
        for uploaded in self.ws.files.values():
            if uploaded.upload_key == key:
                uploaded.content = content
                if len(content) != uploaded.length:
                    self.ws.record_problems(
                        "files.upload", [_length_problem(uploaded, len(content))]
                    )
                # The real upload host responds with text/plain "OK - <bytes>".
                return 200, f"OK - {len(content)}"
        return 404, "not_found"

    def _file_json(self, uploaded: UploadedFile, base_url: str) -> dict[str, Any]:
        mimetype = mimetypes.guess_type(uploaded.filename)[0]
        return {
            "id": uploaded.id,
            "name": uploaded.filename,
            "title": uploaded.title or uploaded.filename,
            "mimetype": mimetype or "application/octet-stream",
            "size": len(uploaded.content or b""),
            "user": self.ws.bot_user_id,
            "url_private": f"{base_url}files/{uploaded.id}/{uploaded.filename}",
            "permalink": f"https://{self.ws.team_domain}.slack.com/files/{uploaded.id}",
        }

    async def files_complete_upload_external(
        self, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        entries = parse_json_argument(args.get("files"), "invalid_arguments")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        uploads: list[UploadedFile] = []
        for entry in entries:
            file_id = entry.get("id") if isinstance(entry, dict) else None
            uploaded = self.ws.files.get(str(file_id))
            if uploaded is None or uploaded.content is None:
                # Error name for a file id that was never uploaded is an
                # assumption; Slack's table for this method is not specific.
                raise SlackError("file_not_found")
            uploaded.title = entry.get("title") or uploaded.filename
            uploads.append(uploaded)
        target = args.get("channel_id") or str(args.get("channels", "")).split(",")[0]
        channel = self._channel_for_post(target) if target else None
        files_json = []
        for uploaded in uploads:
            uploaded.completed = True
            uploaded.channel = channel.id if channel is not None else None
            uploaded.initial_comment = args.get("initial_comment")
            uploaded.thread_ts = args.get("thread_ts")
            files_json.append(self._file_json(uploaded, ctx.base_url))
        if channel is not None:
            payload = {
                "text": args.get("initial_comment") or "",
                "thread_ts": args.get("thread_ts"),
            }
            self.store_bot_message(channel, payload, files=files_json)
        return {"files": files_json}


def _stack_problem(depth: int) -> Problem:
    return Problem(
        "modal.stack",
        "/view",
        "push_limit_reached",
        "error",
        limit("modal.stack"),
        depth,
    )


def _length_problem(uploaded: UploadedFile, received: int) -> Problem:
    return Problem(
        "files.length",
        f"/files/{uploaded.id}",
        "uploaded byte count differs from the declared length",
        "warning",
        uploaded.length,
        received,
    )
