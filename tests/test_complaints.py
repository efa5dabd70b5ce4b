"""A whole study over 150 real complaint narratives, offline.

The narratives (CFPB consumer complaints with the consumer's own issue
label) stand in for participants: `simulate` answers each question with
the most relevant sentences of one narrative. The test checks the bookkeeping
end to end and that the offline themes track the issue labels better than
chance.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from sklearn.metrics import normalized_mutual_info_score

from bot.context import AppContext
from bot.services.studies import guide_of
from bot.simulate import FieldMap, read_records, simulate
from interview_engine.analysis import is_verbatim
from interview_engine.models import TurnKind
from storage import MessageRole
from tests.conftest import COMPLAINTS

pytestmark = pytest.mark.slow

MANDATORY = (
    "Think of your most recent escalated or complex case. What happened from the "
    "moment it was escalated until it was resolved?",
    "At which point did the case stall, or need to be explained again, and why?",
    "What one change would have helped resolve the case faster?",
)


@pytest.fixture
def complaints() -> Path:
    if not COMPLAINTS.is_file():
        pytest.skip(f"{COMPLAINTS} is not present next to the project")
    return COMPLAINTS


async def test_complaints_study(context: AppContext, complaints: Path) -> None:
    study = await context.studies.create(
        "How can we optimize our escalation process and complex case handling to "
        "improve resolution rates and customer satisfaction?"
    )
    assert study.id is not None
    for question in MANDATORY:
        study = await context.studies.add_question(study.id, question)
    fields = FieldMap(
        text="narrative",
        segment="product",
        case_type="issue",
        outcome="company_response",
    )
    records = read_records(complaints, fields)
    assert len(records) == 150
    guide = guide_of(study)
    report = await simulate(
        context.database,
        context.conversations,
        study,
        records,
        questions=[q.text for q in guide.questions],
    )
    assert report.completed == 150

    transcripts = await context.results.transcripts(study)
    assert len(transcripts) == 150
    mandatory_ids = {q.id for q in guide.mandatory}
    for interview, _participant, messages in transcripts:
        assert interview.status == "completed"
        asked = {
            m.meta.get("question_id")
            for m in messages
            if m.role == MessageRole.INTERVIEWER
            and m.meta.get("kind") == TurnKind.QUESTION
        }
        assert mandatory_ids <= asked, (
            f"interview {interview.id} missed a mandatory question"
        )

    stored = await context.results.summarise(study)
    summary = stored.report
    assert summary.total == 150
    codes = await context.results.codes(stored.summary_id)

    recount = Counter((code.kind, code.key) for code in codes)
    for theme in summary.themes + summary.signals:
        assert theme.count == recount[(theme.kind, theme.key)], theme.label
        assert theme.total == 150

    texts = {iv.interview_id: iv for iv in await context.results.interview_texts(study)}
    for theme in summary.themes + summary.signals:
        for quote in theme.quotes:
            assert is_verbatim(quote.text, texts[quote.interview_id]), quote.text

    labels = {interview.id: p.case_type for interview, p, _m in transcripts}
    primary = {code.interview_id: code.key for code in codes if code.kind == "theme"}
    ids = sorted(primary)
    assert len(ids) == 150
    themes = [primary[i] for i in ids]
    issues = [labels[i] for i in ids]
    agreement = normalized_mutual_info_score(issues, themes)
    shuffled = []
    for seed in range(30):
        permuted = themes[:]
        random.Random(seed).shuffle(permuted)
        shuffled.append(normalized_mutual_info_score(issues, permuted))
    # Better than chance: above every one of 30 label shuffles.
    assert agreement > max(shuffled)
    print(
        json.dumps(
            {"nmi": round(agreement, 3), "chance_mean": round(sum(shuffled) / 30, 3)}
        )
    )
