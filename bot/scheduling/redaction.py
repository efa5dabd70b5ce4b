"""Remove participants' personal details from text posted to a team channel.

Replaced: e-mail addresses, phone numbers (7 or more digits with the usual
separators), other numbers of 5 or more digits (account, order and case
numbers), names a participant gives as "my name is ...", and the names of
the study's participants. Dates in ISO form (2026-03-02) are kept. This is
pattern matching: a name the text does not mark and that is not on the
participant list stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])[+(]?\d[\d\s().-]{5,}\d(?!\w)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LONG_NUMBER = re.compile(r"\d{5,}")
_NAME_INTRO = re.compile(
    r"\b(my name is|my name's|name is)\s+[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?",
    re.IGNORECASE,
)
MIN_NAME_CHARS = 2


def _phone(match: re.Match[str]) -> str:
    span = match.group(0)
    digits = sum(character.isdigit() for character in span)
    # A plain run of digits is left for the long-number rule.
    if digits < 7 or span.isdigit() or _ISO_DATE.fullmatch(span.strip()):
        return span
    return "[phone]"


def redact(text: str, names: Iterable[str] = ()) -> str:
    """Return `text` with personal details replaced by [email], [phone] and so on."""
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub(_phone, text)
    text = _LONG_NUMBER.sub("[number]", text)
    text = _NAME_INTRO.sub(lambda m: f"{m.group(1)} [name]", text)
    words = {
        part
        for name in names
        for part in re.split(r"\s+", name.strip())
        if len(part) >= MIN_NAME_CHARS
    }
    for word in sorted(words, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(word)}\b", "[name]", text, flags=re.IGNORECASE)
    return text
