"""Summaries and free-form questions over a study's interviews.

A provider proposes themes, codes and quotes; this module checks them and
does the arithmetic. Every count is computed from the codes returned next to
the report, so a recount of the stored codes reproduces each number. A quote
is kept only if it appears verbatim in that interview's participant
answers. Signals (re-explaining, transfers, waiting...) are coded by fixed
rules for every provider, so they mean the same thing in every study.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from interview_engine.errors import ProviderError
from interview_engine.providers.base import (
    AnswerDraft,
    Coding,
    InterviewText,
    Provider,
    QuoteCandidate,
    Usage,
)
from interview_engine.providers.offline import OfflineProvider
from interview_engine.providers.offline_analysis import (
    SIGNALS,
    code_signals,
    key_points,
    opportunities_from_signals,
    signal_quotes,
)
from interview_engine.report import (
    AnswerReport,
    Comparison,
    InterviewDigest,
    OpportunityResult,
    Quote,
    SegmentCount,
    SummaryReport,
    ThemeResult,
    percent,
)
from interview_engine.text import normalise_space

log = logging.getLogger(__name__)

MAX_COMPARISONS = 6
MIN_GAP_POINTS = 20
UNSEGMENTED = "no segment"


@dataclass(frozen=True)
class AppliedCode:
    interview_id: int
    kind: str  # "theme" or "signal"
    key: str


@dataclass
class SummaryResult:
    report: SummaryReport
    codes: list[AppliedCode]
    usage: Usage


def is_verbatim(quote: str, interview: InterviewText) -> bool:
    """Tell whether a quote appears word for word in the participant's answers."""
    needle = normalise_space(quote)
    if not needle:
        return False
    return any(needle in normalise_space(answer) for _q, answer in interview.answers)


def _segment(interview: InterviewText) -> str:
    return interview.segment or UNSEGMENTED


async def _coding(
    provider: Provider, research_question: str, interviews: list[InterviewText]
) -> tuple[Coding, Usage, str, list[str]]:
    try:
        result = await provider.analyse(research_question, interviews)
        return result.value, result.usage, provider.name, []
    except ProviderError as error:
        log.warning(
            "provider %s failed to analyse, using offline: %s", provider.name, error
        )
        fallback = await OfflineProvider().analyse(research_question, interviews)
        note = (
            f"The {provider.name} model failed ({error}); "
            "themes come from text statistics."
        )
        return fallback.value, Usage(), "offline", [note]


def _segment_counts(
    coded: set[int], by_id: dict[int, InterviewText], segments: dict[str, int]
) -> list[SegmentCount]:
    counts = Counter(_segment(by_id[i]) for i in coded)
    return [
        SegmentCount(segment=segment, count=counts.get(segment, 0), total=total)
        for segment, total in segments.items()
    ]


def _verified_quotes(
    candidates: list[QuoteCandidate],
    by_id: dict[int, InterviewText],
    coded: set[int],
    limit: int = 3,
) -> tuple[list[Quote], int]:
    quotes: list[Quote] = []
    rejected = 0
    for candidate in candidates:
        interview = by_id.get(candidate.interview_id)
        if interview is None or candidate.interview_id not in coded:
            rejected += 1
            continue
        if not is_verbatim(candidate.text, interview):
            rejected += 1
            continue
        if any(q.interview_id == candidate.interview_id for q in quotes):
            continue
        quotes.append(
            Quote(
                text=normalise_space(candidate.text),
                interview_id=candidate.interview_id,
                segment=interview.segment,
            )
        )
        if len(quotes) == limit:
            break
    return quotes, rejected


def _comparisons(results: list[ThemeResult]) -> list[Comparison]:
    found: list[Comparison] = []
    for result in results:
        present = [s for s in result.by_segment if s.total > 0]
        if len(present) < 2 or result.count == 0:
            continue
        shares = [s.percent for s in present]
        gap = max(shares) - min(shares)
        if gap >= MIN_GAP_POINTS:
            ordered = sorted(present, key=lambda s: -s.percent)
            found.append(
                Comparison(
                    key=result.key, label=result.label, segments=ordered, gap_points=gap
                )
            )
    found.sort(key=lambda c: -c.gap_points)
    return found[:MAX_COMPARISONS]


async def summarise(
    research_question: str,
    interviews: list[InterviewText],
    provider: Provider,
    *,
    study_id: int,
    study_title: str,
    now: datetime,
    segment: str | None = None,
) -> SummaryResult:
    """Summarise completed interviews: themes, signals, quotes and opportunities."""
    available = sorted({iv.segment for iv in interviews if iv.segment})
    if segment is not None:
        wanted = segment.strip().casefold()
        interviews = [iv for iv in interviews if iv.segment.casefold() == wanted]
    # An interview in which the participant answered nothing has nothing to
    # count: it stays out of every denominator, and the report says so.
    silent = [iv for iv in interviews if not iv.answers]
    interviews = [iv for iv in interviews if iv.answers]
    total = len(interviews)
    report = SummaryReport(
        study_id=study_id,
        study_title=study_title,
        research_question=research_question,
        generated_at=now,
        provider=provider.name,
        segment_filter=segment,
        total=total,
    )
    if silent:
        report.notes.append(
            f"{len(silent)} completed interviews had no answers and are left out."
        )
    if total == 0:
        note = "No completed interviews with answers yet"
        if segment:
            note += f" in the segment “{segment}”."
            if available:
                note += " The segments are: " + ", ".join(available) + "."
        report.notes.insert(0, note if note.endswith(".") else note + ".")
        return SummaryResult(report=report, codes=[], usage=Usage())

    by_id = {iv.interview_id: iv for iv in interviews}
    segments = dict(sorted(Counter(_segment(iv) for iv in interviews).items()))
    report.segments = segments
    coding, usage, provider_name, notes = await _coding(
        provider, research_question, interviews
    )
    report.provider = provider_name
    report.notes.extend(notes)

    definitions = {theme.key: theme for theme in coding.themes}
    codes: list[AppliedCode] = []
    theme_members: dict[str, set[int]] = {key: set() for key in definitions}
    unknown = 0
    for interview_id, keys in coding.codes.items():
        if interview_id not in by_id:
            unknown += 1
            continue
        for key in dict.fromkeys(keys):
            if key not in definitions or key.startswith("signal:"):
                unknown += 1
                continue
            theme_members[key].add(interview_id)
            codes.append(AppliedCode(interview_id, "theme", key))
    if unknown:
        report.notes.append(f"{unknown} codes that named no known theme were dropped.")

    signal_members: dict[str, set[int]] = {s.key: set() for s in SIGNALS}
    signal_codes = code_signals(interviews)
    for interview_id, keys in signal_codes.items():
        for key in keys:
            signal_members[key].add(interview_id)
            codes.append(AppliedCode(interview_id, "signal", key))

    rejected_quotes = 0
    for key, members in theme_members.items():
        if not members:
            continue
        definition = definitions[key]
        quotes, rejected = _verified_quotes(coding.quotes.get(key, []), by_id, members)
        rejected_quotes += rejected
        report.themes.append(
            ThemeResult(
                key=key,
                label=definition.label,
                description=definition.description,
                kind="theme",
                count=len(members),
                total=total,
                by_segment=_segment_counts(members, by_id, segments),
                quotes=quotes,
            )
        )
    report.themes.sort(key=lambda t: -t.count)

    candidates = signal_quotes(interviews)
    for signal in SIGNALS:
        members = signal_members[signal.key]
        if not members:
            continue
        quotes, _rejected = _verified_quotes(candidates[signal.key], by_id, members)
        report.signals.append(
            ThemeResult(
                key=signal.key,
                label=signal.label,
                description=signal.advice,
                kind="signal",
                count=len(members),
                total=total,
                by_segment=_segment_counts(members, by_id, segments),
                quotes=quotes,
            )
        )
    report.signals.sort(key=lambda t: -t.count)
    if rejected_quotes:
        report.notes.append(
            f"{rejected_quotes} proposed quotes were not verbatim and were left out."
        )

    if len(segments) > 1:
        report.comparisons = _comparisons(report.themes + report.signals)

    known_keys = set(definitions) | {s.key for s in SIGNALS}
    for opportunity in coding.opportunities + opportunities_from_signals(
        signal_codes, total
    ):
        report.opportunities.append(
            OpportunityResult(
                title=opportunity.title,
                detail=opportunity.detail,
                theme_keys=[k for k in opportunity.theme_keys if k in known_keys],
            )
        )

    for interview in interviews:
        points = [
            normalise_space(p)
            for p in coding.key_points.get(interview.interview_id, [])
            if is_verbatim(p, interview)
        ] or key_points(interview)
        report.interviews.append(
            InterviewDigest(
                interview_id=interview.interview_id,
                segment=interview.segment,
                attributes=interview.attributes,
                key_points=points[:3],
            )
        )
    log.info(
        "summarised %d interviews: %d themes, %d signals, provider %s",
        total,
        len(report.themes),
        len(report.signals),
        report.provider,
    )
    return SummaryResult(report=report, codes=codes, usage=usage)


async def answer_question(
    question: str,
    interviews: list[InterviewText],
    provider: Provider,
) -> AnswerReport:
    """Answer a researcher's free-form question from the interview data."""
    by_id = {iv.interview_id: iv for iv in interviews}
    name = provider.name
    try:
        draft: AnswerDraft = (await provider.answer(question, interviews)).value
    except ProviderError as error:
        log.warning(
            "provider %s failed to answer, using offline: %s", provider.name, error
        )
        draft = (await OfflineProvider().answer(question, interviews)).value
        name = "offline"
    quotes, _rejected = _verified_quotes(draft.quotes, by_id, set(by_id), limit=5)
    return AnswerReport(
        question=question,
        text=draft.text,
        quotes=quotes,
        provider=name,
        total=len(interviews),
    )


__all__ = [
    "AppliedCode",
    "SummaryResult",
    "answer_question",
    "is_verbatim",
    "percent",
    "summarise",
]
