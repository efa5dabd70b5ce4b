"""Slack platform limits, rate-limit tiers and method scopes used by the fake.

Every number the fake enforces lives here, each with the public source it was
checked against. The Block Kit numbers were also cross-checked with the
``*_max_length`` constants of slack_sdk 3.48's ``slack_sdk.models`` classes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """One documented Slack limit and the page that states it."""

    value: int
    source: str


_BLOCKS_PAGE = "https://docs.slack.dev/reference/block-kit/blocks"
_SECTION_PAGE = "https://docs.slack.dev/reference/block-kit/blocks/section-block"
_BUTTON_PAGE = (
    "https://docs.slack.dev/reference/block-kit/block-elements/button-element"
)
_MODAL_PAGE = "https://docs.slack.dev/reference/views/modal-views"
_POST_MESSAGE_PAGE = "https://docs.slack.dev/reference/methods/chat.postMessage"
_COMMANDS_PAGE = "https://docs.slack.dev/interactivity/implementing-slash-commands"

LIMITS: dict[str, Limit] = {
    # "You can include up to 50 blocks in each message, and 100 blocks in
    # modals or Home tabs."
    "message.blocks": Limit(50, _BLOCKS_PAGE),
    "view.blocks": Limit(100, _BLOCKS_PAGE),
    "block_id": Limit(255, _BLOCKS_PAGE),
    "header.text": Limit(150, _BLOCKS_PAGE + "/header-block"),
    "section.text": Limit(3000, _SECTION_PAGE),
    "section.fields": Limit(10, _SECTION_PAGE),
    "section.field.text": Limit(2000, _SECTION_PAGE),
    "context.elements": Limit(10, _BLOCKS_PAGE + "/context-block"),
    "actions.elements": Limit(25, _BLOCKS_PAGE + "/actions-block"),
    "markdown.text": Limit(12000, _BLOCKS_PAGE + "/markdown-block"),
    "image.alt_text": Limit(2000, _BLOCKS_PAGE + "/image-block"),
    "image.url": Limit(3000, _BLOCKS_PAGE + "/image-block"),
    "input.label": Limit(2000, _BLOCKS_PAGE + "/input-block"),
    "input.hint": Limit(2000, _BLOCKS_PAGE + "/input-block"),
    "action_id": Limit(255, _BUTTON_PAGE),
    "button.text": Limit(75, _BUTTON_PAGE),
    "button.value": Limit(2000, _BUTTON_PAGE),
    "button.url": Limit(3000, _BUTTON_PAGE),
    "select.placeholder": Limit(
        150,
        "https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element",
    ),
    "select.options": Limit(
        100,
        "https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element",
    ),
    "overflow.options": Limit(
        5,
        "https://docs.slack.dev/reference/block-kit/block-elements/overflow-menu-element",
    ),
    "option.text": Limit(
        75,
        "https://docs.slack.dev/reference/block-kit/composition-objects/option-object",
    ),
    "option.value": Limit(
        150,
        "https://docs.slack.dev/reference/block-kit/composition-objects/option-object",
    ),
    "modal.title": Limit(24, _MODAL_PAGE),
    "modal.submit": Limit(24, _MODAL_PAGE),
    "modal.close": Limit(24, _MODAL_PAGE),
    "view.private_metadata": Limit(3000, _MODAL_PAGE),
    "view.callback_id": Limit(255, _MODAL_PAGE),
    "view.external_id": Limit(255, _MODAL_PAGE),
    # views.push returns push_limit_reached past three views in one stack.
    "modal.stack": Limit(3, "https://docs.slack.dev/reference/methods/views.push"),
    # Slack truncates `text` past 40,000 characters and returns the
    # `message_truncated` warning (changelog of 2018-04, final limit from
    # 2018-08-14). The chat.postMessage reference recommends at most 4,000
    # characters "for best results".
    "message.text": Limit(
        40000, "https://docs.slack.dev/changelog/2018-truncating-really-long-messages"
    ),
    "message.text.recommended": Limit(4000, _POST_MESSAGE_PAGE),
    # too_many_attachments: "A maximum of 100 attachments are allowed".
    "message.attachments": Limit(100, _POST_MESSAGE_PAGE),
    # Events, commands and interactions must be acknowledged within 3 seconds:
    # "you only have 3 seconds to respond before Slack registers a timeout".
    "ack.seconds": Limit(
        3, "https://docs.slack.dev/tools/bolt-python/concepts/acknowledge"
    ),
    # trigger_id values expire 3 seconds after the interaction and are
    # single-use (expired_trigger_id, exchanged_trigger_id).
    "trigger.seconds": Limit(3, "https://docs.slack.dev/reference/methods/views.open"),
    # A response_url takes up to 5 posts within 30 minutes of the command
    # (Slack's slash command guide, as the spatie/laravel-slack-slash-command
    # documentation also states it).
    "response_url.uses": Limit(5, _COMMANDS_PAGE),
    "response_url.seconds": Limit(1800, _COMMANDS_PAGE),
}


def limit(name: str) -> int:
    """Return the value of the named limit from :data:`LIMITS`."""
    return LIMITS[name].value


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``burst`` requests at once, refilled at ``per_minute``."""

    per_minute: float
    burst: int


_RATE_LIMITS_PAGE = "https://docs.slack.dev/apis/web-api/rate-limits"

# Tier n allows "n+ per minute" with some burst (Tier 1: 1+, Tier 2: 20+,
# Tier 3: 50+, Tier 4: 100+), from the rate limits page above. The burst sizes
# are estimates because Slack only states that bursts are tolerated.
TIERS: dict[str, RateLimit] = {
    "tier1": RateLimit(per_minute=1, burst=3),
    "tier2": RateLimit(per_minute=20, burst=20),
    "tier3": RateLimit(per_minute=50, burst=50),
    "tier4": RateLimit(per_minute=100, burst=100),
    # auth.test and chat.getPermalink allow "hundreds of requests per minute".
    "special_hundreds": RateLimit(per_minute=600, burst=600),
}

# Per-method tiers from slackapi/java-slack-sdk's MethodsRateLimits.java, which
# mirrors the tier each method's reference page states.
METHOD_TIERS: dict[str, str] = {
    "apps.connections.open": "tier1",
    "auth.test": "special_hundreds",
    "chat.delete": "tier3",
    "chat.getPermalink": "special_hundreds",
    "chat.postEphemeral": "tier4",
    "chat.update": "tier3",
    "conversations.info": "tier3",
    "conversations.members": "tier4",
    "conversations.open": "tier3",
    "files.completeUploadExternal": "tier4",
    "files.getUploadURLExternal": "tier4",
    "reactions.add": "tier3",
    "reactions.remove": "tier2",
    "usergroups.users.list": "tier2",
    "users.info": "tier4",
    "views.open": "tier4",
    "views.publish": "tier4",
    "views.push": "tier4",
    "views.update": "tier4",
}

# chat.postMessage "will generally allow an app to post 1 message per second to
# a specific channel", with "several hundred messages per minute" across the
# workspace (chat.postMessage reference, "Rate limiting"). The burst of 3 per
# channel and the workspace figure of 300 are estimates.
POST_MESSAGE_PER_CHANNEL = RateLimit(per_minute=60, burst=3)
POST_MESSAGE_PER_WORKSPACE = RateLimit(per_minute=300, burst=300)

# Bot-token scope each method needs, from the "Scopes" fact of the reference
# pages on docs.slack.dev (read for chat.postMessage) and the per-method
# `security` scopes of slackapi/slack-api-specs' Web API spec. Scopes that
# depend on the conversation type (conversations.info, conversations.members,
# conversations.open) are resolved in the Web API module. An empty string
# means no scope is needed.
METHOD_SCOPES: dict[str, str] = {
    "apps.connections.open": "connections:write",
    "auth.test": "",
    "chat.delete": "chat:write",
    "chat.getPermalink": "",
    "chat.postEphemeral": "chat:write",
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "files.completeUploadExternal": "files:write",
    "files.getUploadURLExternal": "files:write",
    "reactions.add": "reactions:write",
    "reactions.remove": "reactions:write",
    "usergroups.users.list": "usergroups:read",
    "users.info": "users:read",
    "views.open": "",
    "views.publish": "",
    "views.push": "",
    "views.update": "",
}

# Read scope per conversation kind, from conversations.info and
# conversations.members ("channels:read, groups:read, im:read, mpim:read").
READ_SCOPE_BY_KIND = {
    "public": "channels:read",
    "private": "groups:read",
    "im": "im:read",
    "mpim": "mpim:read",
}

DEFAULT_BOT_SCOPES: tuple[str, ...] = (
    "app_mentions:read",
    "channels:history",
    "channels:read",
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "groups:history",
    "groups:read",
    "im:history",
    "im:read",
    "im:write",
    "mpim:read",
    "mpim:write",
    "reactions:write",
    "usergroups:read",
    "users:read",
)
