"""The QA synthesis agent (ASearcher §4): one attempt turns a sampled root page into a hard, grounded
question with a unique answer, or into a rejection with its reason.

Pipeline per attempt:
1. sample a root page (seeded by the attempt index); the instruct model summarises it and extracts
   information points, then proposes a base QA with its supporting statement;
2. up to ``max_steps`` times the instruct model picks an action:
   - inject: pick a linked entity, write a linking QA from both pages (its answer is an entity named in
     the question), drop it when its statement is already covered by the known statements, otherwise
     combine it into the question so that the answer stays the same;
   - fuzz: obscure one detail of the question;
   - exit: finish (allowed only when the question is hard);
3. every change (and the base QA) is verified (``verify.Verifier``); a failing change is not applied.

Talks to: ``llm.Caller`` (models), ``pages.PageGraph`` (pages and links).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from asearcher.config.synth import SynthConfig
from asearcher.synth.llm import Caller, Role, StepSkipped
from asearcher.synth.pages import PageGraph
from asearcher.synth.parsing import (
    ReplyError,
    contains_phrase,
    get_bool,
    get_str,
    get_str_list,
    normalize,
)
from asearcher.synth.verify import QA, Statement, Verdict, Verifier, format_statements


@dataclass
class _LinkQA:
    question: str
    answer: str
    statement: str


def pick_root(graph: PageGraph, seed: int, index: int) -> str:
    """The root page of attempt ``index``: uniform over pages that have links (all pages if none do),
    seeded by ``(seed, index)`` so that it does not depend on run order or concurrency."""
    titles = sorted(t for t in graph.titles() if graph.links.get(t)) or sorted(graph.titles())
    return random.Random(f"{seed}:{index}").choice(titles)


class SynthAgent:
    """Runs synthesis attempts over one page graph with two model roles."""

    def __init__(self, graph: PageGraph, instruct: Role, reasoning: Role, cfg: SynthConfig):
        self.graph, self.instruct, self.reasoning, self.cfg = graph, instruct, reasoning, cfg

    def _page_text(self, title: str) -> str:
        return self.graph.pages[title]["contents"][: self.cfg.max_page_chars]

    async def attempt(self, attempt_id: str, index: int) -> dict[str, Any]:
        """Run one attempt; returns its record (``status`` = ``accepted`` or ``rejected``)."""
        cfg = self.cfg
        calls = Caller(seed=cfg.seed * 100_003 + index, retries=cfg.json_retries, temperature=cfg.temperature)
        verifier = Verifier(calls, self.instruct, self.reasoning, cfg.n_direct, cfg.direct_temperature)
        root = pick_root(self.graph, cfg.seed, index)
        rec: dict[str, Any] = {"id": attempt_id, "root": root, "actions": []}
        try:
            summary, facts = await self._extract(calls, root)
            base = await self._base_qa(calls, root, summary, facts)
            rec["summary"], rec["base"] = summary, {"question": base.question, "answer": base.answer,
                                                    "statement": base.statements[0].text}
            verdict = await verifier.verify(base, None)
        except StepSkipped as e:
            return self._finish(rec, calls, None, None, f"reply_error:{e.task}", str(e))
        if not verdict.ok:
            return self._finish(rec, calls, base, verdict, f"base_{verdict.reason}", verdict.detail)
        qa = base
        for step in range(cfg.max_steps):
            action, qa, verdict = await self._step(calls, verifier, qa, verdict, rec["actions"], step)
            rec["actions"].append(action)
            if action["type"] == "exit":
                break
        if verdict.accuracy is not None and verdict.accuracy > cfg.max_final_accuracy:
            return self._finish(rec, calls, qa, verdict, "difficulty",
                                f"direct accuracy {verdict.accuracy:.2f} > {cfg.max_final_accuracy:.2f} "
                                f"after {len(rec['actions'])} step(s)")
        return self._finish(rec, calls, qa, verdict, "", "")

    def _finish(self, rec: dict[str, Any], calls: Caller, qa: QA | None, verdict: Verdict | None,
                reason: str, detail: str) -> dict[str, Any]:
        actions = rec["actions"]
        rec.update(status="rejected" if reason else "accepted", reason=reason, detail=detail,
                   n_inject=sum(a["type"] == "inject" and a["accepted"] for a in actions),
                   n_fuzz=sum(a["type"] == "fuzz" and a["accepted"] for a in actions),
                   llm_calls=calls.calls, retried=dict(calls.retried), skipped_steps=dict(calls.skipped),
                   models={"instruct": self.instruct.name, "reasoning": self.reasoning.name})
        if qa is not None:
            rec.update(question=qa.question, answer=qa.answer,
                       statements=[{"text": s.text, "source": s.source, "url": self.graph.pages[s.source]["url"]}
                                   for s in qa.statements],
                       source_pages=[self.graph.pages[t]["url"] for t in qa.sources])
        if verdict is not None and verdict.accuracy is not None:
            rec.update(direct_gen_accuracy=verdict.accuracy, direct_answers=verdict.direct_answers)
        return rec

    async def _extract(self, calls: Caller, title: str) -> tuple[str, list[str]]:
        return await calls.json(self.instruct, "extract",
                                lambda o: (get_str(o, "summary"), get_str_list(o, "facts")),
                                title=title, contents=self._page_text(title))

    async def _base_qa(self, calls: Caller, root: str, summary: str, facts: list[str]) -> QA:
        def check(o: dict) -> QA:
            q, a, s = get_str(o, "question"), get_str(o, "answer"), get_str(o, "statement")
            if contains_phrase(q, a):
                raise ReplyError(f"the question must not contain the answer {a!r}")
            if not contains_phrase(s, a):
                raise ReplyError(f"the statement must state the answer {a!r}")
            return QA(q, a, [Statement(s, root)], [root])

        return await calls.json(self.instruct, "base_qa", check, title=root, summary=summary,
                                facts="\n".join(f"- {f}" for f in facts))

    def candidates(self, qa: QA) -> list[str]:
        """Linked entities that may be injected: links of the pages used so far, minus those pages and the
        answer's own page, in order of first mention, at most ``max_link_candidates``."""
        used, answer = set(qa.sources), normalize(qa.answer)
        out = [t for src in qa.sources for t in self.graph.links.get(src, [])
               if t not in used and normalize(t) != answer]
        return list(dict.fromkeys(out))[: self.cfg.max_link_candidates]

    async def _step(self, calls: Caller, verifier: Verifier, qa: QA, verdict: Verdict,
                    history: list[dict[str, Any]], step: int) -> tuple[dict[str, Any], QA, Verdict]:
        """One loop step: choose an action, run it, verify. Returns the step's record and the QA and
        verdict that hold afterwards (unchanged when the change failed)."""
        try:
            action, entity = await self._choose(calls, qa, verdict, history)
        except StepSkipped as e:
            return {"step": step, "type": "choose", "accepted": False, "reason": f"reply_error:{e.task}"}, qa, verdict
        rec: dict[str, Any] = {"step": step, "type": action, "accepted": action == "exit",
                               "question_before": qa.question}
        if action == "exit":
            return rec, qa, verdict
        try:
            if action == "inject":
                rec["entity"] = entity
                new = await self._inject(calls, qa, entity, rec)
            else:
                new = await self._fuzz(calls, qa, rec)
            if new is None:
                return rec, qa, verdict
            rec["question_after"] = new.question
            result = await verifier.verify(new, verdict.accuracy)
        except StepSkipped as e:
            rec["reason"] = f"reply_error:{e.task}"
            return rec, qa, verdict
        rec.update(accepted=result.ok, direct_gen_accuracy=result.accuracy)
        if not result.ok:
            rec.update(reason=result.reason, detail=result.detail)
            return rec, qa, verdict
        return rec, new, result

    async def _choose(self, calls: Caller, qa: QA, verdict: Verdict,
                      history: list[dict[str, Any]]) -> tuple[str, str]:
        cands = self.candidates(qa)
        hard = verdict.accuracy is not None and verdict.accuracy <= self.cfg.max_final_accuracy

        def check(o: dict) -> tuple[str, str]:
            action = get_str(o, "action").lower()
            if action not in {"inject", "fuzz", "exit"}:
                raise ReplyError(f"'action' must be \"inject\", \"fuzz\" or \"exit\", got {action!r}")
            if action == "exit" and not hard:
                raise ReplyError("exit is not allowed yet: the question is not hard; choose inject or fuzz")
            if action != "inject":
                return action, ""
            if not cands:
                raise ReplyError("no linked entity is left to inject; choose fuzz or exit")
            entity = str(o.get("entity", "")).strip()
            match = [t for t in cands if normalize(t) == normalize(entity)]
            if not match:
                raise ReplyError(f"'entity' must be one of the linked entities {cands}, got {entity!r}")
            return action, match[0]

        acc = verdict.accuracy if verdict.accuracy is not None else 1.0
        difficulty = (f"{round(acc * self.cfg.n_direct)}/{self.cfg.n_direct} direct answers were right; the "
                      f"question is {'hard' if hard else 'NOT hard yet'}")
        past = "\n".join(f"- {a['type']}: {'accepted' if a['accepted'] else 'rejected (' + a.get('reason', '') + ')'}"
                         for a in history) or "- (none)"
        return await calls.json(self.instruct, "choose_action", check, answer=qa.answer, question=qa.question,
                                statements=format_statements(qa.statements), history=past,
                                difficulty=difficulty, candidates=", ".join(cands) or "(none left)")

    async def _inject(self, calls: Caller, qa: QA, entity: str, rec: dict[str, Any]) -> QA | None:
        """Linking QA → coverage check → combine. Returns the candidate, or None (``rec`` says why)."""
        source = next(s for s in qa.sources if entity in self.graph.links.get(s, []))
        mentioned = [t for t in qa.sources if contains_phrase(qa.question, t)]

        def check_link(o: dict) -> _LinkQA:
            link = _LinkQA(get_str(o, "question"), get_str(o, "answer"), get_str(o, "statement"))
            if not contains_phrase(qa.question, link.answer):
                raise ReplyError(f"the answer {link.answer!r} must be an entity named in the current question")
            if contains_phrase(link.answer, qa.answer):
                raise ReplyError(f"the answer must not be the final answer {qa.answer!r}")
            return link

        link = await calls.json(self.instruct, "link_qa", check_link, question=qa.question,
                                mentioned=", ".join(mentioned) or "(see the question)", source_title=source,
                                entity_title=entity, source_contents=self._page_text(source),
                                entity_contents=self._page_text(entity))
        rec["link"] = {"question": link.question, "answer": link.answer, "statement": link.statement}
        if await self._covered(calls, qa, link.statement):
            rec.update(reason="covered", detail=f"already covered: {link.statement}")
            return None

        def check_combined(o: dict) -> str:
            q = get_str(o, "question")
            for banned in (link.answer, qa.answer):
                if contains_phrase(q, banned):
                    raise ReplyError(f"the new question must not contain {banned!r}")
            return q

        question = await calls.json(self.instruct, "combine", check_combined, question=qa.question,
                                    answer=qa.answer, link_question=link.question, link_answer=link.answer,
                                    link_statement=link.statement)
        return QA(question, qa.answer, [*qa.statements, Statement(link.statement, entity)], [*qa.sources, entity])

    async def _covered(self, calls: Caller, qa: QA, statement: str) -> bool:
        """True when ``statement`` repeats a known one (pure check on the normalised text, then the model)."""
        if normalize(statement) in {normalize(s.text) for s in qa.statements}:
            return True
        return await calls.json(self.instruct, "covered", lambda o: get_bool(o, "covered"),
                                statements=format_statements(qa.statements), statement=statement)

    async def _fuzz(self, calls: Caller, qa: QA, rec: dict[str, Any]) -> QA:
        def check(o: dict) -> tuple[str, str]:
            q = get_str(o, "question")
            if normalize(q) == normalize(qa.question):
                raise ReplyError("the question is unchanged; obscure one detail")
            if contains_phrase(q, qa.answer):
                raise ReplyError(f"the new question must not contain the answer {qa.answer!r}")
            return q, str(o.get("detail", ""))

        question, detail = await calls.json(self.instruct, "fuzz", check, question=qa.question, answer=qa.answer,
                                            statements=format_statements(qa.statements))
        rec["obscured"] = detail
        return QA(question, qa.answer, list(qa.statements), list(qa.sources))
