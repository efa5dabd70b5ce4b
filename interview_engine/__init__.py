"""The platform-free core: plans, the interview policy, providers and analysis.

This package knows no chat platform and no database session: callers pass
in a provider and plain data, and get plain data back.
"""

from interview_engine.analysis import SummaryResult, answer_question, summarise
from interview_engine.interview import start_interview, take_message
from interview_engine.plans import draft_plan

__all__ = [
    "SummaryResult",
    "answer_question",
    "draft_plan",
    "start_interview",
    "summarise",
    "take_message",
]
