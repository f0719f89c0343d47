"""Quality verification of a (changed) question, run after every change (ASearcher §4, "quality
verification"): validity, then difficulty, then answer uniqueness.

- validity: the answer must not appear in the question (pure check); the reasoning model then judges that
  the question is clear, asks one thing, is solvable from the statements and has one answer;
- difficulty: the reasoning model answers the question ``n`` times without tools; each answer is matched
  to the gold answer (exact after normalisation, else the instruct model judges). accuracy = right / n.
  A change is rejected when it raises the accuracy above the question it replaces;
- uniqueness: every distinct wrong direct answer is checked as a possible alternative answer; if one also
  satisfies the question, the change is rejected.

Talks to: ``llm.Caller`` (the two model roles).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from asearcher.synth.llm import Caller, Role
from asearcher.synth.parsing import (
    answer_matches,
    contains_phrase,
    extract_direct_answer,
    get_bool,
    normalize,
)


@dataclass
class Statement:
    """A supporting fact and the title of the page it came from."""

    text: str
    source: str


@dataclass
class QA:
    """A question, its fixed answer and the statements it rests on."""

    question: str
    answer: str
    statements: list[Statement] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    """Titles of the pages used, root first."""


@dataclass
class Verdict:
    """The outcome of verifying one candidate."""

    ok: bool
    reason: str = ""
    """When rejected: ``validity``, ``difficulty`` or ``uniqueness``."""
    detail: str = ""
    accuracy: float | None = None
    """Direct-answer accuracy (None when validity failed first)."""
    direct_answers: list[str] = field(default_factory=list)


def format_statements(statements: list[Statement]) -> str:
    return "\n".join(f"- {s.text} (from: {s.source})" for s in statements) or "- (none)"


class Verifier:
    """Runs the three checks for one attempt (shares the attempt's ``Caller``)."""

    def __init__(self, calls: Caller, instruct: Role, reasoning: Role, n_direct: int, direct_temperature: float):
        self.calls, self.instruct, self.reasoning = calls, instruct, reasoning
        self.n_direct, self.direct_temperature = n_direct, direct_temperature

    async def verify(self, qa: QA, previous_accuracy: float | None) -> Verdict:
        """Validity → difficulty → uniqueness; the first failure decides. Raises ``StepSkipped`` when a
        check gets no usable reply."""
        if contains_phrase(qa.question, qa.answer):
            return Verdict(False, "validity", "the question contains the answer")
        statements = format_statements(qa.statements)
        valid, why = await self.calls.json(
            self.reasoning, "validity", lambda o: (get_bool(o, "valid"), str(o.get("reason", ""))),
            question=qa.question, answer=qa.answer, statements=statements)
        if not valid:
            return Verdict(False, "validity", why)
        answers = await self.direct_answers(qa.question)
        verdicts = await self.judge_all(qa, answers)
        accuracy = sum(verdicts[normalize(a)] for a in answers) / len(answers)
        if previous_accuracy is not None and accuracy > previous_accuracy:
            return Verdict(False, "difficulty", f"direct accuracy rose from {previous_accuracy:.2f} to {accuracy:.2f}",
                           accuracy, answers)
        wrong = list(dict.fromkeys(a for a in answers if a.strip() and not verdicts[normalize(a)]))
        for alt in wrong:
            also, why = await self.calls.json(
                self.reasoning, "uniqueness", lambda o: (get_bool(o, "also_valid"), str(o.get("reason", ""))),
                question=qa.question, answer=qa.answer, statements=statements, candidate=alt)
            if also:
                return Verdict(False, "uniqueness", f"alternative answer {alt!r}: {why}", accuracy, answers)
        return Verdict(True, accuracy=accuracy, direct_answers=answers)

    async def direct_answers(self, question: str) -> list[str]:
        """``n_direct`` tool-free answers of the reasoning model (run together)."""
        replies = await asyncio.gather(*[
            self.calls.text(self.reasoning, "direct_answer", self.direct_temperature, question=question)
            for _ in range(self.n_direct)])
        return [extract_direct_answer(r) for r in replies]

    async def judge_all(self, qa: QA, answers: list[str]) -> dict[str, bool]:
        """normalised answer → correct? Exact matches need no model; the rest go to the judge once each."""
        verdicts: dict[str, bool] = {}
        for a in answers:
            key = normalize(a)
            if key in verdicts:
                continue
            if not key:
                verdicts[key] = False
            elif answer_matches(a, qa.answer):
                verdicts[key] = True
            else:
                verdicts[key] = await self.calls.json(self.instruct, "judge", lambda o: get_bool(o, "correct"),
                                                      question=qa.question, answer=qa.answer, prediction=a)
        return verdicts
