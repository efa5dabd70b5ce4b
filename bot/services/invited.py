"""What an invited participant's first message means, before any interview.

An invitation is a question ("would you take part?"), so the first reply
may be a yes, a no or a "not now". A "stop" opts the person out and cancels
the reminders; a "later" leaves the reminders to ask again; anything else
starts the interview.
"""

from __future__ import annotations

from typing import Literal

from bot.context import AppContext
from interview_engine.intents import Intent, detect_intent, yes_or_no
from storage import Participant

FirstReply = Literal["opted_out", "later", "start"]

OPTED_OUT = (
    "Understood: you won't be interviewed, and I won't message you about this "
    "study again. Thank you!"
)
LATER = (
    "No problem. I'll check back in a few days; you can also reply here any time "
    "to start."
)


async def first_reply(
    context: AppContext, participant: Participant, text: str
) -> FirstReply:
    """Act on an invited participant's first message and say what it meant."""
    assert participant.id is not None
    intent = detect_intent(text)
    if intent == Intent.STOP or yes_or_no(text) is False:
        await context.scheduling.opt_out(participant.id)
        return "opted_out"
    if intent == Intent.PAUSE:
        return "later"
    return "start"
