"""Participant words that always work: stop, pause, resume, skip, yes and no.

Detection is rule-based so that it works the same with every provider and
cannot be talked out of by a model. Control words count only in short
messages: "stop" is an opt-out, while "they told me to stop calling them
and wait" is an answer. The phrases cover English, Spanish, French, German
and Portuguese.
"""

from __future__ import annotations

import re
from enum import StrEnum

from interview_engine.text import normalise_space, words


class Intent(StrEnum):
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    SKIP = "skip"


# A control phrase is only read as such in a message of at most this many words.
MAX_CONTROL_WORDS = 12

_POLITE = r"( (please|now|thanks|thank you|for now|it|this|that|one))*$"

_PATTERNS: dict[Intent, re.Pattern[str]] = {
    Intent.STOP: re.compile(
        r"^(please )?(stop|quit|cancel|unsubscribe|opt ?out|end (this|the interview)|"
        r"para|basta|arr[eê]te[rz]?|stopp|aufh[oö]ren|abbrechen|pare|parar|chega)"
        + _POLITE
        + r"|\b(stop|quit) (messaging|contacting|texting|writing to|asking) me\b"
        r"|\bi (want|would like|d like|wish) to (stop|quit|opt out|end this)\b"
        r"|\b(leave me alone|remove me|take me off|no more messages)\b"
        r"|\b(don t|do not) (message|contact|text|write to|bother) me\b"
        r"|\bi (don t|do not) want to (do this|participate|take part|continue)\b"
        r"|\bno quiero (participar|continuar|seguir)\b"
        r"|\bje ne veux (plus|pas) (participer|continuer)\b"
        r"|\bich (m[oö]chte|will) nicht (mehr )?(teilnehmen|weitermachen)\b"
        r"|\bn[aã]o quero (participar|continuar)\b"
    ),
    Intent.PAUSE: re.compile(
        r"^(please )?(pause|brb|later|not now|hold on|m[aá]s tarde|luego|"
        r"plus tard|sp[aä]ter|mais tarde)"
        + _POLITE
        + r"|\b(pause (this|the interview|it)|continue later|talk later|"
        r"finish (this )?later|do this later|come back later|another time)\b"
        r"|\bi (have|need|got) to (go|run|leave)\b|\bbusy right now\b"
    ),
    Intent.RESUME: re.compile(
        r"^(resume|continue|go on|go ahead|i m back|im back|back|ready|"
        r"let s (go|continue)|carry on|unpause|seguir|continuar|sigamos|"
        r"reprendre|continuer|weiter|fortsetzen)" + _POLITE
    ),
    Intent.SKIP: re.compile(
        r"^(please )?(skip|pass|next)( (question|this question))?"
        + _POLITE
        + r"|\bnext question\b|\bskip (this|that|it|the question)\b"
        r"|\b(rather not|prefer not to) (answer|say|talk about)\b|\bno comment\b"
        r"|\bi d rather not\b"
        r"|\b(siguiente pregunta|prefiero no responder)\b"
        r"|\b(question suivante|je pr[eé]f[eè]re ne pas r[eé]pondre)\b"
        r"|\b([uü]berspringen|n[aä]chste frage)\b|\b(pr[oó]xima pergunta|pular)\b"
    ),
}

_YES = re.compile(
    r"^(yes|yeah|yep|yup|sure|ok|okay|correct|right|exactly|absolutely|of course|"
    r"that s right|that s correct|sounds right|spot on|fine|go ahead|"
    r"s[ií]|claro|oui|bien s[uû]r|ja|genau|sim|👍|✅)\b"
)
_NO = re.compile(
    r"^(no(?! problem| worries)|nope|nah|not really|not quite|don t|do not|"
    r"rather not|never|non|nein|n[aã]o|👎|❌)\b"
)


def _plain(text: str) -> str:
    lowered = text.lower().replace("’", "'").replace("'", " ")
    lowered = re.sub(r"[^\w\s👍👎✅❌]", " ", lowered)
    return normalise_space(lowered)


def detect_intent(text: str) -> Intent | None:
    """Return the control intent of a participant message, if it has one."""
    if len(words(text)) > MAX_CONTROL_WORDS:
        return None
    plain = _plain(text)
    for intent in (Intent.STOP, Intent.SKIP, Intent.PAUSE, Intent.RESUME):
        if _PATTERNS[intent].search(plain):
            return intent
    return None


def yes_or_no(text: str) -> bool | None:
    """Read a yes or no from a short reply; None when it is neither."""
    plain = _plain(text)
    if _NO.search(plain):
        return False
    if _YES.search(plain):
        return True
    return None
