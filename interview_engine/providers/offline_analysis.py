"""Analysis with classic text statistics: TF-IDF, LSA and k-means.

Themes are clusters of whole interviews, so each interview has exactly one
theme code. Signals are fixed patterns of support-process trouble (having to
re-explain, transfers, waiting...) that any interview may show, so each
interview has zero or more signal codes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.preprocessing import normalize

from interview_engine.providers.base import (
    AnswerDraft,
    Coding,
    InterviewText,
    Opportunity,
    QuoteCandidate,
    ThemeDefinition,
)
from interview_engine.text import content_words, sentences

MIN_INTERVIEWS_FOR_THEMES = 4
MAX_THEMES = 12
QUOTES_PER_THEME = 3
MAX_QUOTE_CHARS = 320

# Redaction marks (XXXX) and filler that would otherwise top every theme.
_EXTRA_STOP_WORDS = frozenset(
    "xxxx xx xxx would could said told just like really also got get going "
    "did didn does doesn don know think thing things way lot yes nothing add "
    "time times called call".split()
)
_STOP_WORDS = sorted(ENGLISH_STOP_WORDS | _EXTRA_STOP_WORDS)
_TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"


@dataclass(frozen=True)
class Signal:
    key: str
    label: str
    pattern: re.Pattern[str]
    opportunity: str
    advice: str


def _signal(
    key: str, label: str, pattern: str, opportunity: str, advice: str
) -> Signal:
    return Signal(
        key=f"signal:{key}",
        label=label,
        pattern=re.compile(pattern, re.IGNORECASE),
        opportunity=opportunity,
        advice=advice,
    )


SIGNALS: tuple[Signal, ...] = (
    _signal(
        "re-explain",
        "had to re-explain their issue",
        r"\b(re-?explain\w*|explain\w* (\w+ ){0,3}(all )?(over )?again|"
        r"repeat(ed|ing)? (myself|my \w+|the same|it)|start(ed)? "
        r"(all )?over|from scratch|over and over|again and again|same "
        r"(information|story|details|documents|questions)|(multiple|several|"
        r"many|numerous|countless) times)\b",
        "Carry the case history across every handoff",
        "Pass a short written summary with each transfer and escalation so "
        "that nobody has to start from scratch.",
    ),
    _signal(
        "transfers",
        "were transferred or passed between teams",
        r"\b(transferr?(ed|ing)|bounced|passed (around|between|along|back)|"
        r"handed (off|over)|hand-?offs?|another (department|team|agent|person|"
        r"rep\w*)|different (department|team|agent|person|rep\w*)|run-?around)\b",
        "Route complex cases to the right team the first time",
        "Define which cases go straight to which team, and measure how often "
        "a case changes hands.",
    ),
    _signal(
        "waiting",
        "described long waits, delays or no response",
        r"\b(on hold|hold times?|wait(ed|ing)?|still (have not|haven't|no|not)|"
        r"no (response|reply|answer|update)|never (heard|received|got|responded)|"
        r"took (forever|so long|too long|weeks|months)|delay(s|ed)?|"
        r"(for|several|many|two|three|four) (weeks|months)|(weeks|months) later)\b",
        "Set response-time expectations and keep them",
        "Tell customers when they will hear back, and send an update before "
        "that time even when there is no news.",
    ),
    _signal(
        "escalation",
        "mentioned an escalation to a supervisor, manager or specialist",
        r"\b(escalat\w*|supervisors?|managers?|specialists?|tier (2|two|3|three)|"
        r"second[- ]line|senior (agent|rep\w*))\b",
        "Make escalation paths and criteria explicit",
        "Write down when a case is escalated, to whom, and what the customer "
        "is told at that moment.",
    ),
    _signal(
        "callbacks",
        "were promised a callback or follow-up",
        r"\b(call(ed)? (me )?back|callbacks?|promised|never (called|followed up|"
        r"got back)|no one (called|followed up|got back)|follow(ed)?[- ]?up)\b",
        "Keep callback and follow-up promises",
        "Schedule every promised callback in the case tool so it cannot be "
        "forgotten, or do not promise one.",
    ),
    _signal(
        "ownership",
        "wanted one owner for their case",
        r"\b(ownership|own(s|ed)? (the|my|their) (case|issue|ticket|problem)|one "
        r"person|single (point|person)|point of contact|(nobody|no one) (took|"
        r"takes|owned|owns)|case owner)\b",
        "Give each complex case one owner",
        "Assign a named owner who stays with the case until it is resolved, "
        "even when specialists help.",
    ),
    _signal(
        "context",
        "said case notes or history were missing or unused",
        r"\b((notes|history|context|file) (was|were|is|are) (missing|lost|wrong|"
        r"incomplete|empty)|(didn't|did not|never|couldn't|could not|can't|cannot) "
        r"(read|see|check|find|open) (the|my|any|our|their|previous)( \w+)? "
        r"(notes|history|file|case notes|case history|ticket)|"
        r"no (record|notes|history) of|"
        r"(nobody|no one) (read|checked|looked at) (the|my|our) (notes|history|file)|"
        r"lost (my|the) (file|case|information|documents|paperwork))\b",
        "Make case notes easy to write and to read",
        "Show the case history at the top of every agent's screen, and ask "
        "for a two-line summary at each handoff.",
    ),
)


# A negation shortly before a match turns it around: "there was no delay",
# "I was not transferred", "it was never escalated".
_NEGATION = re.compile(
    r"\b(no|not|never|without|nobody|no one|none|hardly|didn't|didn t|did not|"
    r"wasn't|wasn t|weren't|weren t|don't|don t|doesn't|doesn t|haven't|haven t|"
    r"hasn't|hasn t|isn't|isn t|aren't|aren t|won't|couldn't)\b[^.!?;]{0,25}$",
    re.IGNORECASE,
)


def signal_found(signal: Signal, text: str) -> bool:
    """Tell whether a signal appears in text with no negation just before it."""
    for match in signal.pattern.finditer(text):
        before = text[max(0, match.start() - 40) : match.start()]
        if not _NEGATION.search(before):
            return True
    return False


def code_signals(interviews: list[InterviewText]) -> dict[int, list[str]]:
    """Return the signal keys found in each interview's participant text."""
    codes: dict[int, list[str]] = {}
    for interview in interviews:
        found: list[str] = []
        for signal in SIGNALS:
            if any(
                signal_found(signal, sentence)
                for _question, answer in interview.answers
                for sentence in sentences(answer)
            ):
                found.append(signal.key)
        codes[interview.interview_id] = found
    return codes


def signal_quotes(interviews: list[InterviewText]) -> dict[str, list[QuoteCandidate]]:
    """Return, for each signal, verbatim sentences in which it appears."""
    quotes: dict[str, list[QuoteCandidate]] = {signal.key: [] for signal in SIGNALS}
    for interview in interviews:
        for sentence in _candidate_sentences(interview):
            for signal in SIGNALS:
                found = quotes[signal.key]
                if len(found) >= QUOTES_PER_THEME or any(
                    quote.interview_id == interview.interview_id for quote in found
                ):
                    continue
                if signal_found(signal, sentence):
                    found.append(
                        QuoteCandidate(
                            interview_id=interview.interview_id, text=sentence
                        )
                    )
    return quotes


def _candidate_sentences(interview: InterviewText) -> list[str]:
    found: list[str] = []
    for _question, answer in interview.answers:
        for sentence in sentences(answer):
            if (
                30 <= len(sentence) <= MAX_QUOTE_CHARS
                and len(content_words(sentence)) >= 4
            ):
                found.append(sentence)
    return found


def _theme_count(documents: int) -> int:
    # About sqrt(n / 2) clusters: 2 for a dozen interviews, 9 for 150.
    return max(2, min(MAX_THEMES, round(math.sqrt(documents / 2)), documents - 1))


def _vectorizer(min_df: int, max_df: float) -> TfidfVectorizer:
    return TfidfVectorizer(
        stop_words=_STOP_WORDS,
        token_pattern=_TOKEN_PATTERN,
        sublinear_tf=True,
        min_df=min_df,
        max_df=max_df,
        ngram_range=(1, 2),
    )


def _fit(documents: list[str]) -> tuple[TfidfVectorizer, Any] | None:
    """Fit TF-IDF, relaxing the document-frequency bounds for tiny or uniform
    sets of interviews; None when no term survives at all."""
    for min_df, max_df in ((2, 0.6), (1, 1.0)):
        vectorizer = _vectorizer(min_df, max_df)
        try:
            return vectorizer, vectorizer.fit_transform(documents)
        except ValueError:
            continue
    return None


def cluster_themes(interviews: list[InterviewText]) -> Coding:
    """Cluster interviews into themes; label each by its most typical terms."""
    usable = [iv for iv in interviews if len(content_words(iv.participant_text)) >= 5]
    if len(usable) < MIN_INTERVIEWS_FOR_THEMES:
        return Coding(themes=[], codes={})
    fitted = _fit([iv.participant_text for iv in usable])
    if fitted is None:
        return Coding(themes=[], codes={})
    vectorizer, matrix = fitted
    terms = np.array(vectorizer.get_feature_names_out())
    if len(terms) < 2:
        return Coding(themes=[], codes={})

    distinct = len({" ".join(iv.participant_text.split()) for iv in usable})
    clusters = min(_theme_count(len(usable)), distinct)
    if clusters < 2:
        labels = np.zeros(len(usable), dtype=int)
    else:
        dimensions = min(100, len(terms) - 1, len(usable) - 1)
        # Near-identical answers leave the SVD with zero variance to divide
        # by; the clusters are still right, so the warning is silenced.
        with np.errstate(divide="ignore", invalid="ignore"):
            reduced = TruncatedSVD(
                n_components=dimensions, random_state=0
            ).fit_transform(matrix)
        reduced = normalize(reduced)
        labels = KMeans(n_clusters=clusters, n_init=10, random_state=0).fit_predict(
            reduced
        )

    dense_mean = np.asarray(matrix.mean(axis=0)).ravel()
    order = sorted(set(labels.tolist()), key=lambda c: -int((labels == c).sum()))
    themes: list[ThemeDefinition] = []
    codes: dict[int, list[str]] = {}
    quotes: dict[str, list[QuoteCandidate]] = {}
    used_terms: set[str] = set()
    for number, cluster in enumerate(order, start=1):
        members = [
            iv for iv, label in zip(usable, labels, strict=True) if label == cluster
        ]
        rows = matrix[np.flatnonzero(labels == cluster)]
        centroid = np.asarray(rows.mean(axis=0)).ravel()
        distinct = centroid - dense_mean
        top = [terms[i] for i in np.argsort(-distinct)[:12] if distinct[i] > 0]
        label_terms = [t for t in top if t not in used_terms][:3] or top[:3]
        used_terms.update(label_terms)
        key = f"theme:{number}"
        themes.append(
            ThemeDefinition(
                key=key,
                label=" / ".join(label_terms) if label_terms else f"theme {number}",
                description="Interviews that share the words: " + ", ".join(top[:8]),
            )
        )
        for member in members:
            codes[member.interview_id] = [key]
        quotes[key] = _closest_quotes(members, vectorizer, centroid)
    return Coding(
        themes=themes,
        codes=codes,
        quotes=quotes,
        primary={iv: keys[0] for iv, keys in codes.items()},
    )


def _closest_quotes(
    members: list[InterviewText], vectorizer: TfidfVectorizer, centroid: np.ndarray
) -> list[QuoteCandidate]:
    candidates = [
        (iv.interview_id, s) for iv in members for s in _candidate_sentences(iv)
    ]
    if not candidates:
        return []
    vectors = vectorizer.transform([text for _id, text in candidates])
    scores = vectors @ centroid
    picked: list[QuoteCandidate] = []
    seen: set[int] = set()
    for index in np.argsort(-scores):
        interview_id, text = candidates[int(index)]
        if interview_id in seen or scores[index] <= 0:
            continue
        picked.append(QuoteCandidate(interview_id=interview_id, text=text))
        seen.add(interview_id)
        if len(picked) == QUOTES_PER_THEME:
            break
    return picked


def key_points(interview: InterviewText, limit: int = 3) -> list[str]:
    """Pick the interview's most informative sentences, verbatim."""
    candidates = _candidate_sentences(interview)
    ranked = sorted(candidates, key=lambda s: -len(set(content_words(s))))
    chosen = set(ranked[:limit])
    return [s for s in candidates if s in chosen][:limit]


def opportunities_from_signals(
    codes: dict[int, list[str]], total: int
) -> list[Opportunity]:
    """Turn the most frequent signals into improvement opportunities."""
    counts = {signal.key: 0 for signal in SIGNALS}
    for keys in codes.values():
        for key in keys:
            counts[key] += 1
    found: list[Opportunity] = []
    floor = max(1, math.ceil(total * 0.2))
    for signal in sorted(SIGNALS, key=lambda s: -counts[s.key]):
        if counts[signal.key] < floor:
            continue
        found.append(
            Opportunity(
                title=signal.opportunity,
                detail=(
                    f"{counts[signal.key]} of {total} participants {signal.label}. "
                    f"{signal.advice}"
                ),
                theme_keys=[signal.key],
            )
        )
    return found


def analyse_offline(interviews: list[InterviewText]) -> Coding:
    """Cluster themes and pick each interview's key points.

    Signals and the opportunities drawn from them are added by the engine
    for every provider, so they are not part of this result.
    """
    coding = cluster_themes(interviews)
    coding.key_points = {iv.interview_id: key_points(iv) for iv in interviews}
    return coding


def candidate_passages(
    question: str, interviews: list[InterviewText], *, limit: int, floor: float = 0.1
) -> list[tuple[int, str]]:
    """Return up to `limit` (interview id, sentence) pairs closest to a question."""
    candidates = [
        (iv.interview_id, s)
        for iv in interviews
        for _q, answer in iv.answers
        for s in sentences(answer)
        if len(s) <= MAX_QUOTE_CHARS
    ]
    if not candidates or not content_words(question):
        return []
    vectorizer = TfidfVectorizer(
        stop_words=_STOP_WORDS, token_pattern=_TOKEN_PATTERN, sublinear_tf=True
    )
    try:
        vectors = vectorizer.fit_transform([text for _id, text in candidates])
    except ValueError:
        return []
    scores = (vectors @ vectorizer.transform([question]).T).toarray().ravel()
    ranked = [int(i) for i in np.argsort(-scores) if scores[i] > floor]
    return [candidates[i] for i in ranked[:limit]]


def answer_offline(question: str, interviews: list[InterviewText]) -> AnswerDraft:
    """Answer by retrieval: the passages closest to the question's words."""
    passages = candidate_passages(question, interviews, limit=10_000)
    if not passages:
        return AnswerDraft(
            text="No participant said anything close to this question. "
            "Try other words, for example a word participants used."
        )
    matching = {interview_id for interview_id, _text in passages}
    picked: list[QuoteCandidate] = []
    seen: set[int] = set()
    for interview_id, text in passages:
        if interview_id in seen:
            continue
        seen.add(interview_id)
        picked.append(QuoteCandidate(interview_id=interview_id, text=text))
        if len(picked) == 5:
            break
    return AnswerDraft(
        text=(
            f"{len(matching)} of {len(interviews)} interviews contain passages that "
            "share words with the question; that is not a count of the answer. "
            "The closest passages follow (offline mode finds passages; it does not "
            "reason about them):"
        ),
        quotes=picked,
    )
