"""Small text helpers: sentences, words, trimming, language and cues.

These are rules, not models: they run offline and behave the same on every
machine, which the offline provider and the policy rely on.
"""

from __future__ import annotations

import re
import unicodedata

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)

# Words frequent in one language and rare in the others: enough to tell the
# languages apart in a sentence or two. Anything else is reported as unknown.
_LANGUAGE_MARKERS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and is was were have has i you it that this with my for not but "
        "they we be are of to".split()
    ),
    "es": frozenset(
        "el la los las que es y pero muy por para con mi una un está fue "
        "tengo no se lo como del".split()
    ),
    "fr": frozenset(
        "le la les et est je pas une un des du que qui avec pour mais très "
        "mon ma été avoir".split()
    ),
    "de": frozenset(
        "der die das und ist ich nicht ein eine mit für aber sehr mein "
        "wurde habe zu auf den dem".split()
    ),
    "pt": frozenset(
        "o a os as que é e mas muito por para com meu uma um foi não "
        "tenho isso do da".split()
    ),
}

_SCRIPT_LANGUAGES = (
    ("CJK", "zh"),
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("HANGUL", "ko"),
    ("CYRILLIC", "ru"),
    ("ARABIC", "ar"),
    ("HEBREW", "he"),
    ("DEVANAGARI", "hi"),
    ("GREEK", "el"),
    ("THAI", "th"),
)

EMOTION_WORDS = frozenset(
    """
    angry annoyed anxious ashamed confused depressed desperate disappointed
    disgusted embarrassed exhausted frustrated frustrating furious helpless
    hopeless humiliated ignored infuriating irritated mad nervous overwhelmed
    relieved sad scared shocked stressed stressful terrified tired upset
    worried happy glad grateful pleased delighted satisfied unhappy hurt
    insulted betrayed powerless livid
    """.split()
)

_VAGUE_ANSWERS = re.compile(
    r"^(it was )?(fine|ok|okay|good|bad|meh|alright|so so|not sure|"
    r"i don'?t know|idk|dunno|maybe|sometimes|it depends|kind of|sort of|"
    r"nothing|no idea|same as usual|normal)[.!]*$"
)

_EXAMPLE_CUES = re.compile(
    r"\b(for example|for instance|once|last (week|month|year|time)|yesterday|"
    r"when i|one time|the time|on \w+day|in (january|february|march|april|may|"
    r"june|july|august|september|october|november|december))\b|\d"
)

# Instructions aimed at the interviewer. Each alternative needs a directive
# ("ignore ...", "print your ...", "enter ... mode"), so that answers which
# merely mention a prompt or say "you are now the third person" pass.
_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override) (all |any )?(of )?(your |the |my |previous "
    r"|prior |above |earlier |these )+(instructions|rules|prompt|guidelines|"
    r"directions)\b"
    r"|\b(print|reveal|show|repeat|output|display|tell me|give me|what (is|are)|"
    r"what s) (me )?(your|the) (system prompt|instructions|rules|initial prompt|"
    r"hidden prompt|guidelines)\b"
    r"|\byou are now (in )?(an? )?(admin|developer|debug|god|unrestricted|"
    r"jailbroken|root)( mode)?\b"
    r"|\b(enter|enable|activate|switch to|turn on) (admin|developer|debug|god) mode\b"
    r"|\bjailbreak\b|\bact as (an? )?(admin|system|root|developer)\b"
    r"|^\s*(system|assistant)\s*:",
    re.IGNORECASE,
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def normalise_space(text: str) -> str:
    """Collapse runs of white space and strip the ends."""
    return " ".join(text.split())


def sentences(text: str) -> list[str]:
    """Split text into sentences, keeping each one verbatim."""
    parts = (part.strip() for part in _SENTENCE_END.split(text))
    return [part for part in parts if part]


def words(text: str) -> list[str]:
    """Return the lower-cased words of a text, without digits or punctuation."""
    return [match.group(0).lower() for match in _WORD.finditer(text)]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in ENGLISH_STOP_WORDS and len(w) > 2]


def has_letters(text: str) -> bool:
    """Tell whether the text has any letter or digit (emoji-only has none)."""
    return any(ch.isalnum() for ch in text)


def shorten(text: str, limit: int) -> str:
    """Shorten text to at most `limit` characters at a word boundary."""
    text = normalise_space(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(",;: ") + "…"


def trim_for_model(text: str, limit: int) -> str:
    """Keep the start and end of a long answer and say how much was left out."""
    if len(text) <= limit:
        return text
    head = text[: limit * 2 // 3]
    tail = text[-(limit // 3) :]
    left_out = len(text) - len(head) - len(tail)
    return f"{head} […{left_out} characters left out…] {tail}"


def detect_language(text: str) -> str | None:
    """Guess the language of a participant message.

    Returns an ISO 639-1 code, or None when the text is too short or the
    guess is not clear. Non-Latin scripts are recognised by their Unicode
    block; Latin-script languages by frequent function words.
    """
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return None
    for block, code in _SCRIPT_LANGUAGES:
        count = sum(1 for ch in letters if block in unicodedata.name(ch, ""))
        if count / len(letters) > 0.3:
            return code
    tokens = words(text)
    if len(tokens) < 3:
        return None
    scores = {
        code: sum(1 for token in tokens if token in markers)
        for code, markers in _LANGUAGE_MARKERS.items()
    }
    best = max(scores, key=lambda code: scores[code])
    ranked = sorted(scores.values(), reverse=True)
    if ranked[0] == 0 or ranked[0] == ranked[1]:
        return None
    return best


def emotions(text: str) -> list[str]:
    """Return the emotion words a participant used, in order of appearance."""
    seen: list[str] = []
    for word in words(text):
        if word in EMOTION_WORDS and word not in seen:
            seen.append(word)
    return seen


def is_vague(text: str) -> bool:
    """Tell whether an answer is too short or too vague to move on from.

    Chinese, Japanese and Korean are written without spaces between words,
    so there the length in characters counts instead of the word count.
    """
    plain = normalise_space(re.sub(r"[^\w\s']", " ", text.lower()))
    if _VAGUE_ANSWERS.match(plain):
        return True
    if len(_CJK.findall(text)) >= 12:
        return False
    return len(words(text)) < 6


def has_example(text: str) -> bool:
    """Tell whether an answer already describes a concrete occasion."""
    return bool(_EXAMPLE_CUES.search(text.lower()))


def looks_like_injection(text: str) -> bool:
    """Tell whether a message tries to give the interviewer instructions."""
    return bool(_INJECTION.search(text))


def salient_phrase(text: str, *, max_words: int = 4) -> str | None:
    """Pick a short phrase from an answer to reflect back ("you mentioned X").

    The phrase is the longest run of two to `max_words` consecutive content
    words (no stop words, no numbers or symbols in between), cut verbatim
    from the answer, so the participant reads words they wrote together.
    """
    best: tuple[int, int, int] = (0, 0, 0)  # word count, start, end
    run: list[re.Match[str]] = []

    def close_run() -> None:
        nonlocal best
        if len(run) > best[0]:
            best = (len(run), run[0].start(), run[-1].end())

    previous_end = 0
    for match in _WORD.finditer(text):
        token = match.group(0).lower()
        gap = text[previous_end : match.start()]
        previous_end = match.end()
        joined = not run or gap.strip(" ") == ""
        if (
            token in ENGLISH_STOP_WORDS
            or len(token) < 3
            or token == "xxxx"
            or not joined
        ):
            close_run()
            run = []
            if token in ENGLISH_STOP_WORDS or len(token) < 3 or token == "xxxx":
                continue
        run.append(match)
        if len(run) == max_words:
            close_run()
            run = []
    close_run()
    if best[0] < 2:
        return None
    return text[best[1] : best[2]]


_NOTHING_MORE = re.compile(
    r"^(no|nope|nothing|none|that'?s (all|it)|nothing (more|else)( to add)?|"
    r"not really|no(thing)? more|i have nothing (more |else )?to add|"
    r"nothing to add( on that)?|n/a|that covers it)\b"
)


def is_nothing_more(text: str) -> bool:
    """Tell whether a short reply says the participant has nothing to add."""
    plain = normalise_space(text.lower().replace("’", "'"))
    return len(words(text)) <= 10 and bool(_NOTHING_MORE.match(plain))
