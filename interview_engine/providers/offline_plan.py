"""Rule-based drafting of a research plan from a research question."""

from __future__ import annotations

import re

from interview_engine.models import ResearchPlan, ResearchType
from interview_engine.text import normalise_space, salient_phrase

_ACTION = re.compile(
    r"\b(improve|optimi[sz]e|reduce|shorten|cut|lower|increase|raise|speed up|"
    r"accelerate|simplify|fix|change|redesign|streamline|strengthen|prevent|"
    r"avoid|support|handle|make)\b\s+(?P<subject>.+?)"
    r"(?:\s+(?:so that|so|in order to|to|and thereby)\s+(?P<goal>.+))?$",
    re.IGNORECASE,
)
_OUTCOME_VERB = re.compile(
    r"^(improve|increase|raise|reduce|lower|boost|keep|make|ensure|get)\s+",
    re.IGNORECASE,
)
_NEEDS = re.compile(
    r"\bwhat do(?:es)? (?P<who>.+?) (?:need|want|expect|value)\s+"
    r"(?:from|in|of|about|with)\s+(?P<subject>.+)$",
    re.IGNORECASE,
)
_OWNER = re.compile(r"^(our|their|its|my|your)\s+", re.IGNORECASE)


_MEASURE = re.compile(
    r"^the (time|number|rate|cost|share|amount|percentage|volume|length|count)\b.*"
    r"\b(?:in|of|for|on|during|at)\s+(?P<topic>[^,;]+)$",
    re.IGNORECASE,
)


def _topic_of(subject: str) -> str:
    """Turn a measure ("the time cases spend in escalation") into its topic."""
    match = _MEASURE.match(subject)
    return _clean_phrase(match.group("topic")) if match else subject


def _clean_phrase(text: str) -> str:
    """Tidy a phrase cut from the question; "our process" becomes "the process"."""
    text = normalise_space(text.strip(" ?.!,;:"))
    return _OWNER.sub("the ", text)


def _research_type(question: str) -> ResearchType:
    lower = question.lower()
    if re.search(r"\b(why|understand|what is it like|how do .* experience)\b", lower):
        return ResearchType.EXPLORATORY
    if re.search(r"\b(what do|what does) .* (need|want|expect|struggle)\b", lower):
        return ResearchType.DISCOVERY
    if re.search(r"\b(new|ideas?|invent|design a|concepts?)\b", lower):
        return ResearchType.GENERATIVE
    if re.search(
        r"\b(improve|optimi[sz]e|reduce|shorten|cut|lower|speed up|how well|"
        r"work(s|ing)? well)\b",
        lower,
    ):
        return ResearchType.EVALUATIVE
    return ResearchType.EXPLORATORY


def _subject_and_outcome(question: str) -> tuple[str, str]:
    """Cut the subject ("the escalation process") and the desired outcome.

    The outcome comes back as a verb phrase: "improve X" when the question
    says "to improve X", "help ensure that X" when it says "so that X".
    """
    text = normalise_space(question.strip(" ?.!"))
    default_outcome = "improve the experience of the people involved"
    match = _ACTION.search(text)
    if match:
        subject = _clean_phrase(match.group("subject"))
        goal = (match.group("goal") or "").strip()
        if goal and not _OUTCOME_VERB.match(goal):
            outcome = f"help ensure that {_clean_phrase(goal)}"
        elif goal:
            outcome = "improve " + _clean_phrase(_OUTCOME_VERB.sub("", goal))
        else:
            outcome = default_outcome
        if subject:
            return _topic_of(subject), outcome
    needs = _NEEDS.search(text)
    if needs:
        return _clean_phrase(needs.group("subject")), default_outcome
    phrase = salient_phrase(text, max_words=5)
    if phrase:
        return f"the topic of “{phrase.lower()}”", default_outcome
    return "the topic of this study", default_outcome


def _target_participants(question: str, subject: str) -> str:
    lower = question.lower()
    groups: list[str] = []
    if re.search(r"\b(customer|client|user|member|escalat|case)", lower):
        groups.append(f"customers who went through {subject} in the last 30 days")
    if re.search(r"\b(support|agent|escalat|case|ticket|service)", lower):
        groups.append("the support agents and specialists who handled those cases")
    if not groups:
        groups.append(f"people with first-hand experience of {subject}")
    return " and ".join(groups).capitalize() + "."


def draft_plan_offline(research_question: str) -> ResearchPlan:
    """Draft a plan from the question's own words: subject, outcome, audience."""
    research_type = _research_type(research_question)
    subject, outcome = _subject_and_outcome(research_question)
    article = "An" if research_type.value[0] in "aeiou" else "A"
    description = (
        f"{article} {research_type.value} study of {subject}: how it works today for "
        f"the people involved, where it breaks down, and what would "
        f"{outcome}."
    )
    goals = [
        f"Understand how participants experience {subject} today, step by step.",
        f"Find where {subject} slows down, stalls or has to be repeated, and why.",
        f"Identify the changes that would best {outcome}.",
    ]
    core_questions = [
        f"Could you walk me through the last time you were involved in {subject}?",
        "What happened at each step, from the first contact to the resolution?",
        "Where did things slow down, get stuck, or have to be repeated?",
        "How did that affect you, and how did you feel about it?",
        "What worked well that should be kept?",
        f"If you could change one thing about {subject}, what would it be?",
        f"What would help most to {outcome}?",
    ]
    return ResearchPlan(
        research_type=research_type,
        description=description,
        goals=goals,
        target_participants=_target_participants(research_question, subject),
        core_questions=core_questions,
    )
