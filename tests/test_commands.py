"""Parsing `/perspective` text and rendering replies within Block Kit limits."""

from __future__ import annotations

import pytest

from adapters.base import TextReply
from adapters.slack.blocks import (
    MAX_BLOCKS,
    MAX_HEADER,
    MAX_SECTION,
    header,
    paginate,
    render,
    section,
    split_text,
)
from bot.commands import UsageError, mentioned_id, parse, usage


@pytest.mark.parametrize(
    ("text", "name", "arguments", "options"),
    [
        ("", "help", [], {}),
        ("summary", "summary", [], {}),
        (
            'summary 3 --segment "support agent"',
            "summary",
            ["3"],
            {"segment": "support agent"},
        ),
        ("summary 3 --segment=agents", "summary", ["3"], {"segment": "agents"}),
        ("ASK 2 “why so slow?”", "ask", ["2", "why so slow?"], {}),
        (
            "invite 1 <@U123|ana> --case-type billing",
            "invite",
            ["1", "<@U123|ana>"],
            {"case_type": "billing"},
        ),
    ],
)
def test_parse(
    text: str, name: str, arguments: list[str], options: dict[str, str]
) -> None:
    parsed = parse(text)
    assert parsed.name == name
    assert parsed.arguments == arguments
    assert parsed.options == options


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fly", "Unknown command"),
        ('ask 1 "open', "Check the quotes"),
        ("summary 1 --segment", "--segment needs a value"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse(text)


def test_usage_lists_every_command() -> None:
    text = usage()
    for name in (
        "new",
        "plan",
        "questions",
        "settings",
        "invite",
        "link",
        "status",
        "summary",
        "ask",
        "export",
        "close",
        "help",
    ):
        assert f"/perspective {name}" in text


def test_mentions() -> None:
    assert mentioned_id("<@U0123|ana>") == "U0123"
    assert mentioned_id("<#C0456>") == "C0456"
    assert mentioned_id("ana") is None


def test_split_text_respects_limit() -> None:
    text = ("A sentence about waiting on hold. " * 400).strip()
    pieces = split_text(text)
    assert all(len(piece) <= MAX_SECTION for piece in pieces)
    assert " ".join(pieces) == text


def test_split_text_breaks_only_overlong_words() -> None:
    word = "x" * 7000
    pieces = split_text(word)
    assert [len(p) for p in pieces] == [3000, 3000, 1000]


def test_long_header_keeps_full_text() -> None:
    title = "T" * 60 + " " + "long title " * 20
    blocks = header(title)
    assert len(blocks[0]["text"]["text"]) <= MAX_HEADER
    assert title.strip() in blocks[1]["text"]["text"]


def test_paginate_numbers_continuations() -> None:
    blocks = section("line\n" * 10) * 120
    messages = paginate(blocks, "fallback")
    assert sum(len(m.blocks) for m in messages) == len(blocks)
    assert all(len(m.blocks) <= MAX_BLOCKS for m in messages)
    assert messages[1].text.startswith("(continued, part 2 of")


def test_text_reply_escaped() -> None:
    message = render(TextReply("<!channel> & friends"))[0]
    assert "&lt;!channel&gt; &amp; friends" in message.blocks[0]["text"]["text"]
