"""Prompt size of a 30-turn interview: bounded window against whole history.

Replays one interview of 30 interviewer turns with the openai provider
against the fake OpenAI server on 127.0.0.1 (the model always probes, so
the turn budget is what ends it). For each turn it records the prompt the
provider sent, and builds the prompt that resending the whole history would
need: the same instructions and guide, plus every earlier message.

Token counts are estimates: one token per word or punctuation mark, the
fake server's tokenizer, not OpenAI's. The ratio between the two columns is
what this reports; both use the same estimate.

Run: .venv/bin/python -m bench.prompt_tokens
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from interview_engine.prompts import INTERVIEWER_INSTRUCTIONS
from interview_engine.providers.openai import OpenAIProvider, OpenAISettings
from tests.conftest import make_guide
from tests.fakes.openai_scripted import estimate_tokens
from tests.fakes.openai_server import FakeOpenAI, json_reply
from tests.support import long_answers, run_interview

PROBE = {
    "covered_question_ids": [],
    "action": "probe",
    "probe_kind": "example",
    "next_question_id": None,
    "acknowledgement": "Thanks.",
    "message": "Could you tell me more about what happened next?",
    "language": "en",
}


def _respond(body: dict[str, Any]) -> Any:
    if "close a research interview" in body["messages"][0]["content"]:
        return json_reply({"recap": "You described long waits. Is that right?"})
    return json_reply(PROBE)


async def main() -> None:
    guide = make_guide(
        max_turns=30, max_probes_per_question=6, min_questions_before_close=0
    )
    async with FakeOpenAI(responder=_respond) as fake:
        provider = OpenAIProvider(
            OpenAISettings(model="fake-model", api_key="k", base_url=fake.base_url)
        )
        transcript = await run_interview(guide, provider, long_answers(40))
        await provider.close()
        turn_bodies = [
            r.body
            for r in fake.requests
            if r.body
            and "close a research interview" not in r.body["messages"][0]["content"]
        ]

    windowed = [
        sum(estimate_tokens(m["content"]) for m in body["messages"])
        for body in turn_bodies
    ]
    # The whole-history prompt at turn n: the same document with every earlier
    # message in place of the window and the running summary.
    whole: list[int] = []
    history = transcript.history
    for number, body in enumerate(turn_bodies):
        document = json.loads(body["messages"][1]["content"])
        document.pop("summary_of_earlier_answers")
        cut = 2 + 2 * number  # welcome and first question, then a pair per turn
        document["recent_messages"] = [{m.role: m.text} for m in history[: cut + 1]]
        whole.append(
            estimate_tokens(INTERVIEWER_INSTRUCTIONS)
            + estimate_tokens(json.dumps(document, ensure_ascii=False))
        )

    turns = transcript.last.state.interviewer_turns
    print(f"interviewer turns: {turns}, model calls for turns: {len(windowed)}")
    print(f"{'call':>4} {'windowed':>9} {'whole history':>14}")
    for number in (0, 4, 9, 14, 19, len(windowed) - 1):
        print(f"{number + 1:>4} {windowed[number]:>9} {whole[number]:>14}")
    total_windowed, total_whole = sum(windowed), sum(whole)
    print(
        f"total prompt tokens: windowed {total_windowed}, whole history {total_whole}"
    )
    print(f"ratio windowed / whole: {total_windowed / total_whole:.2f}")
    print(
        f"last call: windowed {windowed[-1]}, whole {whole[-1]}, "
        f"ratio {windowed[-1] / whole[-1]:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
