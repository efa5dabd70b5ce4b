"""Start an interview and take each participant message: the engine's core loop.

The engine is given a provider and data, never a session or a platform
client, and returns the next turn together with the new state. Everything
a participant can break is handled here, before any model sees it: empty
input, control words (stop, pause, skip), instructions aimed at the
interviewer, and answers too long for a prompt.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime

from interview_engine.errors import ProviderError
from interview_engine.intents import (
    Intent,
    asks_if_bot,
    asks_to_resume,
    detect_intent,
    yes_or_no,
)
from interview_engine.models import (
    Button,
    ConversationMessage,
    Guide,
    InterviewState,
    OutgoingMessage,
    Phase,
    Status,
    Turn,
    TurnKind,
)
from interview_engine.policy import (
    Decision,
    decide,
    remaining_minutes,
    remaining_turns,
)
from interview_engine.providers.base import (
    Provider,
    RecapRequest,
    TurnProposal,
    TurnRequest,
    Usage,
)
from interview_engine.providers.offline import OfflineProvider, offline_recap
from interview_engine.text import (
    detect_language,
    has_letters,
    looks_like_injection,
    normalise_space,
    shorten,
    trim_for_model,
)

log = logging.getLogger(__name__)

_OFFLINE = OfflineProvider()

YES_NO_BUTTONS = [Button(label="Yes", value="yes"), Button(label="No", value="no")]
CONFIRM_BUTTONS = [
    Button(label="Yes, that's right", value="yes, that's right"),
    Button(label="Let me correct it", value="I'd like to correct something"),
]

CONTROL_HELP = (
    "You can answer in your own words, say “skip” to skip a question, "
    "“pause” to continue later, or “stop” at any time to opt out."
)


def welcome_text(guide: Guide, participant_name: str | None = None) -> str:
    """Compose the welcome: who is asking, that an AI interviews, and why."""
    experience = guide.experience
    greeting = f"Hi {participant_name}!" if participant_name else "Hi!"
    if experience.welcome_message.strip():
        opening = experience.welcome_message.strip()
    else:
        opening = f"Thank you for taking part in “{experience.conversation_title}”."
    researcher = experience.researcher_name
    if experience.researcher_title:
        researcher += f", {experience.researcher_title}"
    parts = [
        f"{greeting} {opening}",
        f"I am an AI interviewer asking questions on behalf of {researcher}. "
        f"{experience.researcher_bio}".strip(),
        experience.usage_statement,
        f"It takes about {round(guide.settings.max_minutes)} minutes. {CONTROL_HELP}",
    ]
    return "\n\n".join(part for part in parts if part)


def _question_message(
    guide: Guide, decision: Decision, proposal_message: str, language: str | None
) -> OutgoingMessage:
    question = guide.question(decision.question_id)
    assert question is not None
    text = question.text
    # The guide is written in English. For a participant writing in another
    # language, a model's own phrasing of the same question is used instead.
    if language not in (None, "en") and proposal_message.strip():
        text = proposal_message.strip()
    if decision.acknowledgement:
        text = f"{decision.acknowledgement} {text}"
    return OutgoingMessage(text=text, kind=TurnKind.QUESTION, question_id=question.id)


def _count_turn(state: InterviewState, now: datetime) -> None:
    state.interviewer_turns += 1
    state.last_activity_at = now


def _record_activity(guide: Guide, state: InterviewState, now: datetime) -> None:
    if state.last_activity_at is not None:
        gap = (now - state.last_activity_at).total_seconds()
        state.active_seconds += max(0.0, min(gap, guide.settings.idle_gap_cap_seconds))
    state.last_activity_at = now


def _apply_usage(state: InterviewState, usage: Usage) -> None:
    state.prompt_tokens += usage.prompt_tokens
    state.completion_tokens += usage.completion_tokens


async def start_interview(
    guide: Guide, *, now: datetime, participant_name: str | None = None
) -> Turn:
    """Open an interview: the welcome, then the first question."""
    if not guide.questions:
        raise ValueError("the guide has no questions to ask")
    state = InterviewState(last_activity_at=now)
    first = guide.questions[0]
    state.current_question_id = first.id
    state.progress_of(first.id).asked = True
    _count_turn(state, now)
    return Turn(
        messages=[
            OutgoingMessage(
                text=welcome_text(guide, participant_name), kind=TurnKind.WELCOME
            ),
            OutgoingMessage(
                text=first.text, kind=TurnKind.QUESTION, question_id=first.id
            ),
        ],
        state=state,
    )


def _opted_out_message(guide: Guide) -> OutgoingMessage:
    experience = guide.experience
    text = (
        "Understood. You have opted out, and I won't message you again about "
        "this study. Thank you for your time."
    )
    if experience.contact:
        text += (
            f" If you would like your answers so far deleted, tell "
            f"{experience.researcher_name} at {experience.contact}."
        )
    return OutgoingMessage(text=text, kind=TurnKind.OPTED_OUT)


def _welcome_back(guide: Guide, state: InterviewState) -> OutgoingMessage:
    question = _current_question_text(guide, state)
    resumed = "Welcome back!"
    if state.phase == Phase.QUESTIONS and question:
        resumed += f" Where we left off: {question}"
    elif state.phase == Phase.CONFIRMING and state.recap:
        resumed += f" {state.recap}"
    else:
        resumed += " May we contact you again about this topic?"
    return OutgoingMessage(
        text=resumed, kind=TurnKind.QUESTION, question_id=state.current_question_id
    )


def _bot_disclosure(guide: Guide, state: InterviewState) -> OutgoingMessage:
    """Answer "are you a bot?" plainly, then repeat where we are."""
    text = (
        "Yes, I'm an AI interviewer, asking questions on behalf of "
        f"{guide.experience.researcher_name}. People on the research team read "
        "the answers."
    )
    question = _current_question_text(guide, state)
    if state.phase == Phase.QUESTIONS and question:
        text += f" The question was: {question}"
    elif state.phase == Phase.CONFIRMING and state.recap:
        text += f" {state.recap}"
    return OutgoingMessage(
        text=text, kind=TurnKind.NOTICE, question_id=state.current_question_id
    )


def _current_question_text(guide: Guide, state: InterviewState) -> str:
    question = guide.question(state.current_question_id)
    return question.text if question else ""


def _reply(
    state: InterviewState, *messages: OutgoingMessage, ignored: bool = False
) -> Turn:
    return Turn(messages=list(messages), state=state, ignored_input=ignored)


async def take_message(
    guide: Guide,
    state: InterviewState,
    text: str,
    history: Sequence[ConversationMessage],
    provider: Provider,
    *,
    now: datetime,
) -> Turn:
    """Take one participant message and return the next turn and state.

    Args:
        guide: The study's questions, experience and budgets.
        state: The state returned with the previous turn (not modified).
        text: The participant's message, exactly as received.
        history: Earlier messages of this interview, oldest first, without
            `text`; only the last `guide.settings.window_messages` of them
            are shown to a model.
        provider: The model provider. Its failures fall back to the offline
            rules, so this function does not raise ProviderError.
        now: The current time, for the time budget.
    """
    state = state.model_copy(deep=True)
    if state.status in (Status.COMPLETED, Status.OPTED_OUT):
        return _reply(state, ignored=True)

    if not normalise_space(text):
        question = _current_question_text(guide, state)
        reask = "I didn't receive any text. Could you type your answer?"
        if state.status == Status.PAUSED:
            reask = "Whenever you're ready, just send a message to continue."
        elif question and state.phase == Phase.QUESTIONS:
            reask += f" The question was: {question}"
        return _reply(
            state, OutgoingMessage(text=reask, kind=TurnKind.REASK), ignored=True
        )

    # The answer to the contact question is a yes or a no, whatever words it
    # uses: "no, please don't contact me again" must not opt the person out
    # of an interview they have just completed.
    if state.phase == Phase.CONTACT and state.status == Status.ACTIVE:
        _record_activity(guide, state, now)
        return _after_contact_question(guide, state, text)

    intent = detect_intent(text)
    if intent == Intent.STOP:
        state.status = Status.OPTED_OUT
        state.phase = Phase.DONE
        return _reply(state, _opted_out_message(guide))
    if intent == Intent.PAUSE and state.status == Status.ACTIVE:
        state.status = Status.PAUSED
        return _reply(
            state,
            OutgoingMessage(
                text=(
                    "No problem, we can pause here. Send any message when you "
                    "want to continue, and we'll pick up where we left off."
                ),
                kind=TurnKind.PAUSED,
            ),
        )
    if state.status == Status.PAUSED:
        state.status = Status.ACTIVE
        state.last_activity_at = now
        if intent in (Intent.RESUME, Intent.PAUSE) or asks_to_resume(text):
            return _reply(state, _welcome_back(guide, state))
    elif intent == Intent.RESUME and state.phase == Phase.QUESTIONS:
        intent = None  # "continue" mid-interview is an answer like any other

    if asks_if_bot(text):
        return _reply(state, _bot_disclosure(guide, state))

    _record_activity(guide, state, now)
    full_history = [*history, ConversationMessage(role="participant", text=text)]

    if state.phase == Phase.CONFIRMING:
        return _after_recap(guide, state, text, now)
    if state.phase == Phase.CONTACT:
        return _after_contact_question(guide, state, text)
    if intent == Intent.FINISH:
        # The participant owes the study nothing: ending early is their call,
        # mandatory questions included.
        state.overrides.append("participant asked to finish")
        decision = Decision(
            action="close", acknowledgement="Of course, let's wrap up here."
        )
        return _reply(
            state, *await _close(guide, state, decision, provider, now, full_history)
        )

    messages: list[OutgoingMessage] = []
    language = detect_language(text)
    if language:
        state.language = language
    if (
        state.language
        and provider.languages is not None
        and state.language not in provider.languages
        and not state.language_notice_sent
    ):
        state.language_notice_sent = True
        messages.append(
            OutgoingMessage(
                text=(
                    "I can only run this interview in English in this mode, but "
                    "please answer in whichever language you prefer: your answers "
                    "are recorded as you write them."
                ),
                kind=TurnKind.NOTICE,
            )
        )

    current = state.current_question_id
    if intent == Intent.SKIP and current is not None:
        progress = state.progress_of(current)
        progress.skipped = True
        decision = decide(
            guide,
            state,
            TurnProposal(
                action="next_question", acknowledgement="No problem, let's move on."
            ),
        )
        return _reply(
            state,
            *messages,
            *await _render(guide, state, decision, "", provider, now, full_history),
        )

    if looks_like_injection(text) and current is not None:
        # Instructions aimed at the interviewer are never sent to a model:
        # the interviewer steers back to the question, and the redirect
        # counts as a probe so that repeating it cannot stall the interview.
        progress = state.progress_of(current)
        progress.redirects += 1
        progress.probes += 1
        log.info("instruction-like input redirected: question=%s", current)
        if progress.probes <= guide.settings.max_probes_per_question:
            _count_turn(state, now)
            messages.append(
                OutgoingMessage(
                    text=(
                        "I'm here to hear about your own experience, so let's stay "
                        f"with the question: {_current_question_text(guide, state)}"
                    ),
                    kind=TurnKind.REDIRECT,
                    question_id=current,
                )
            )
            return _reply(state, *messages)
        decision = decide(guide, state, TurnProposal(action="next_question"))
        return _reply(
            state,
            *messages,
            *await _render(guide, state, decision, "", provider, now, full_history),
        )

    if current is not None:
        progress = state.progress_of(current)
        progress.answered = True
        if has_letters(text):
            state.running_summary.append(f"{current}: {shorten(text, 200)}")
            state.running_summary = state.running_summary[-12:]

    request = TurnRequest(
        guide=guide,
        state=state,
        latest_answer=trim_for_model(text, guide.settings.max_answer_chars_for_model),
        window=_window(history, guide.settings.window_messages),
        remaining_turns=remaining_turns(guide, state),
        remaining_minutes=max(0.0, remaining_minutes(guide, state)),
    )
    proposal = await _propose(provider, request, state)
    decision = decide(guide, state, proposal)
    if decision.overrides:
        log.info("policy overrode the proposal: %s", "; ".join(decision.overrides))
        state.overrides.extend(decision.overrides)
        state.overrides = state.overrides[-20:]
    rendered = await _render(
        guide, state, decision, proposal.message, provider, now, full_history
    )
    return _reply(state, *messages, *rendered)


def _window(
    history: Sequence[ConversationMessage], size: int
) -> list[ConversationMessage]:
    return list(history[-size:])


async def _propose(
    provider: Provider, request: TurnRequest, state: InterviewState
) -> TurnProposal:
    try:
        result = await provider.propose_turn(request)
    except ProviderError as error:
        log.warning(
            "provider %s failed, this turn uses the offline rules: %s",
            provider.name,
            error,
        )
        state.fallback_turns += 1
        return (await _OFFLINE.propose_turn(request)).value
    _apply_usage(state, result.usage)
    return result.value


async def _render(
    guide: Guide,
    state: InterviewState,
    decision: Decision,
    proposal_message: str,
    provider: Provider,
    now: datetime,
    history: Sequence[ConversationMessage],
) -> list[OutgoingMessage]:
    if decision.action == "probe":
        assert decision.question_id is not None
        progress = state.progress_of(decision.question_id)
        progress.probes += 1
        progress.probe_kinds.append(decision.probe_kind or "other")
        _count_turn(state, now)
        text = decision.message
        if decision.acknowledgement:
            text = f"{decision.acknowledgement} {text}"
        return [
            OutgoingMessage(
                text=text, kind=TurnKind.PROBE, question_id=decision.question_id
            )
        ]
    if decision.action == "ask":
        assert decision.question_id is not None
        state.current_question_id = decision.question_id
        state.progress_of(decision.question_id).asked = True
        _count_turn(state, now)
        return [_question_message(guide, decision, proposal_message, state.language)]
    return await _close(guide, state, decision, provider, now, history)


async def _close(
    guide: Guide,
    state: InterviewState,
    decision: Decision,
    provider: Provider,
    now: datetime,
    history: Sequence[ConversationMessage],
) -> list[OutgoingMessage]:
    state.current_question_id = None
    _count_turn(state, now)
    if not guide.settings.confirm_understanding:
        state.phase = Phase.CONTACT
        return [_closing_message(guide, decision.acknowledgement)]
    answers = _answers_from(history, guide)
    recap_request = RecapRequest(guide=guide, state=state, answers=answers)
    try:
        result = await provider.recap(recap_request)
        recap = result.value.strip()
        _apply_usage(state, result.usage)
    except ProviderError as error:
        log.warning(
            "provider %s failed on the recap, using offline: %s", provider.name, error
        )
        state.fallback_turns += 1
        recap = ""
    if not recap or len(recap) > 1200:
        recap = offline_recap(recap_request)
    state.recap = recap
    state.phase = Phase.CONFIRMING
    text = (
        recap if not decision.acknowledgement else f"{decision.acknowledgement} {recap}"
    )
    return [OutgoingMessage(text=text, kind=TurnKind.CONFIRM, buttons=CONFIRM_BUTTONS)]


def _answers_from(
    history: Sequence[ConversationMessage], guide: Guide
) -> list[tuple[str, str]]:
    answers: list[tuple[str, str]] = []
    last_question = ""
    for message in history:
        if message.role == "interviewer":
            last_question = message.text
        elif message.role == "participant" and has_letters(message.text):
            answers.append((last_question, message.text))
    return answers


def _closing_message(guide: Guide, acknowledgement: str = "") -> OutgoingMessage:
    experience = guide.experience
    parts = [
        acknowledgement,
        "Thank you so much for your time and your honest answers.",
    ]
    if experience.call_to_action:
        parts.append(experience.call_to_action.strip())
    if experience.contact:
        parts.append(
            f"You can reach {experience.researcher_name} at {experience.contact}."
        )
    parts.append("One last thing: may we contact you again about this topic?")
    text = " ".join(part for part in parts if part)
    return OutgoingMessage(text=text, kind=TurnKind.CLOSING, buttons=YES_NO_BUTTONS)


_CORRECTION_REQUEST = re.compile(
    r"^(i d like to |i want to |let me |can i )?(correct|change|fix|add)"
    r"( something| it| that)?\W*$"
    r"|^(no|not quite|not really|partly|partially)\W*$",
    re.IGNORECASE,
)


def _after_recap(guide: Guide, state: InterviewState, text: str, now: datetime) -> Turn:
    agreed = yes_or_no(text)
    plain = " ".join(text.replace("’", "'").replace("'", " ").split())
    if (
        not state.awaiting_correction
        and agreed is not True
        and _CORRECTION_REQUEST.match(plain)
    ):
        # "Let me correct it" names no correction yet: ask for it first.
        state.awaiting_correction = True
        _count_turn(state, now)
        return _reply(
            state,
            OutgoingMessage(
                text="Of course. What should I correct or add?", kind=TurnKind.CONFIRM
            ),
        )
    if state.awaiting_correction or agreed is not True:
        state.recap_correction = text
    state.awaiting_correction = False
    state.phase = Phase.CONTACT
    _count_turn(state, now)
    acknowledgement = (
        "Great, thank you."
        if agreed is True and state.recap_correction is None
        else "Thank you for the correction, I've noted it."
    )
    return _reply(state, _closing_message(guide, acknowledgement))


def _after_contact_question(guide: Guide, state: InterviewState, text: str) -> Turn:
    state.contact_ok = yes_or_no(text)
    if state.contact_ok is None and detect_intent(text) == Intent.STOP:
        state.contact_ok = False  # "stop" here means "do not contact me"
    state.phase = Phase.DONE
    state.status = Status.COMPLETED
    noted = {
        True: "Noted: we may get in touch again.",
        False: "Noted: we won't contact you again about this.",
        None: "Noted.",
    }[state.contact_ok]
    experience = guide.experience
    if experience.send_thank_you and experience.thank_you_message.strip():
        text_out = f"{noted} {experience.thank_you_message.strip()}"
    else:
        text_out = f"{noted} Take care!"
    return _reply(state, OutgoingMessage(text=text_out, kind=TurnKind.FAREWELL))
