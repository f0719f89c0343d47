"""Supervised warm start: oracle trajectories from the world's questions, or any trajectories JSONL, and
a loss on the assistant (mask-1) tokens only.

Oracle trajectories are produced by the REAL agent (``asearcher.agent.run_episode``) against the REAL
tools, with a ``ScriptedEngine`` whose completions are the oracle actions derived from ``meta["chain"]``
— so the token sequences are exactly what the agent builds at RL time (same prompts, observation
rendering and turn boundaries). Talks to: the agent, the tools, ``rollout.to_samples`` and a
``LocalTrainEngine``. Used by ``trainer.pipeline`` and ``asearcher sft``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

from asearcher.errors import DataError
from asearcher.monitoring import Tracker, budget_fraction, next_step_overruns
from asearcher.rollout.to_samples import trajectory_to_samples
from asearcher.trainer.engine import Batch, TrainEngine
from asearcher.types import Example, TrainSample, Trajectory

log = logging.getLogger(__name__)


_REL_WORDS = {"born_in": "birthplace", "birth_year": "birth year", "founded_year": "founding year",
              "work_year": "release year", "event_year": "year", "charter_year": "charter year"}


def _rel(hop: dict) -> str:
    """A relation as the oracle's thoughts name it ("founding year", not "founded_year")."""
    rel = hop.get("relation", "answer")
    return _REL_WORDS.get(rel, rel.replace("_", " "))


def oracle_plan(example: Example) -> list[str]:
    """The steps the oracle's first thought lists, innermost first: "the R of T" for the first hop, "the R"
    for each later hop of a chain (its entity is not known yet), then "the answer"; a comparison lists
    "the R of A", "the R of B", then "the comparison"."""
    chain = example.meta["chain"]
    if example.meta.get("compare"):
        return [f"the {_rel(h)} of {h['title']}" for h in chain] + ["the comparison"]
    return [f"the {_rel(chain[0])} of {chain[0]['title']}", *(f"the {_rel(h)}" for h in chain[1:]), "the answer"]


def _plan_step(plan: list[str], k: int) -> str:
    """The plan's step ``k`` restated with the one before it, word for word as the first thought wrote them."""
    return f"In the plan: {plan[k - 1]}, then {plan[k]}."


def oracle_completions(example: Example) -> list[str]:
    """The oracle's completion for each LLM call of ``example`` (text after the pre-filled ``<think>``).

    First call: the plan (``oracle_plan``: every step the question needs, innermost first, ending in
    "the answer"), what is looked for now, then ``<search>query_1</search>``. Call k > 1: what was found
    at hop k−1 (its fact, then "So the R of T is B."), then the plan's step k−1 restated with the step
    that follows it ("In the plan: S, then S'.") — the stop/go-on decision is this copy of the plan
    written at the first call, not a guess at the end; then, when going on, the question that remains
    with the bridge in place of the nested phrase (when the hop records ``next_question``) and what is
    looked for now, then ``<search>query_k</search>``. Last call: the last fact, "So the R of T is B.",
    the plan's "…, then the answer.", then ``<answer>``; a comparison names the winning value, then its
    entity.
    """
    chain = example.meta.get("chain")
    if not chain:
        raise DataError(example.id, None, "no meta['chain']: oracle trajectories need world questions")
    answer = example.answers[0]
    compare = example.meta.get("compare")
    plan = oracle_plan(example)
    out: list[str] = []
    for k, hop in enumerate(chain):
        want = f"the {_rel(hop)} of {hop['title']}" if hop.get("relation") else f"more about {hop['title']}"
        if k == 0:
            head = f"Plan: {', then '.join(plan)}. To answer this I first need {want}."
        else:
            prev = chain[k - 1]
            head = (f"The search shows: {prev['fact']} So the {_rel(prev)} of {prev['title']} "
                    f"is {prev['bridge']}. {_plan_step(plan, k)}")
            if prev.get("next_question"):
                head += f" The question becomes: {prev['next_question']}"
            head += f" Next I need {want}."
        out.append(f"{head}\n</think>\n<search>{hop['query']}</search>")
    last = chain[-1]
    tail = f"The search shows: {last['fact']}"
    if compare:
        values = ", ".join(f"{h['title']}: {h['bridge']}" for h in chain)
        won = next((h["bridge"] for h in chain if h["title"] == answer), None)
        which = {"min": "smaller", "max": "larger"}.get(compare.get("pick", ""))
        pick = f"the {which} is {won}, so " if won is not None and which else ""
        tail += (f" {_plan_step(plan, len(plan) - 1)} "
                 f"Comparing the {_rel(compare)} ({values}): {pick}the answer is {answer}.")
    else:
        # the same words as a hop that goes on, up to the plan's next step: here the answer
        tail += (f" So the {_rel(last)} of {last['title']} is {last['bridge']}. "
                 f"{_plan_step(plan, len(plan) - 1)} That is what the question asks, so the answer is {answer}.")
    out.append(f"{tail}\n</think>\n<answer>{answer}</answer>")
    return out


def _retrieved(traj: Trajectory) -> set[str]:
    return {h.id for t in traj.turns for h in t.hits}


async def oracle_trajectories(examples: list[Example], agent: Any, tools: Any, tokenizer: Any, *,
                              valid_inst_ratio: float = 0.0, seed: int = 0, concurrency: int = 8,
                              ) -> tuple[list[Trajectory], dict[str, int]]:
    """Run the oracle through the real agent and tools; keep trajectories whose every hop's supporting
    passage was actually retrieved and whose answer was given (counts of kept/dropped in the stats)."""
    from asearcher.agent import run_episode
    from asearcher.inference.fake import ScriptedEngine

    sem = asyncio.Semaphore(concurrency)
    stats = {"kept": 0, "not_retrieved": 0, "no_answer": 0, "truncated": 0}

    async def one(i: int, ex: Example) -> Trajectory | None:
        engine = ScriptedEngine(tokenizer, oracle_completions(ex), logprob=0.0)
        valid = random.Random(f"{seed}:sft:{ex.id}").random() >= valid_inst_ratio
        async with sem:
            traj = await run_episode(agent, engine, tools, ex, max_turns=len(ex.meta["chain"]) + 1,
                                     valid_instruction=valid, temperature=0.0, trajectory_id=f"oracle-{ex.id}")
        if any(c.finish_reason == "length" for c in traj.calls):
            stats["truncated"] += 1
            return None
        if traj.answer is None or traj.error:
            stats["no_answer"] += 1
            return None
        if not {h["passage_id"] for h in ex.meta["chain"]} <= _retrieved(traj):
            stats["not_retrieved"] += 1
            return None
        stats["kept"] += 1
        traj.reward = traj.score = 1.0
        traj.format_ok = True
        return traj

    done = await asyncio.gather(*(one(i, ex) for i, ex in enumerate(examples)))
    kept = [t for t in done if t is not None]
    if examples and not kept:
        need = max(len(tokenizer.encode(c, add_special_tokens=False)) for c in oracle_completions(examples[0]))
        raise DataError("oracle trajectories", None, f"none of {len(examples)} survived ({stats}); "
                        f"truncated ones need agent.max_new_tokens >= {need}, not_retrieved ones a larger "
                        "knowledge.topk")
    return kept, stats


def load_trajectories(path: str | Path, min_reward: float | None = None) -> list[Trajectory]:
    """Trajectories from a JSONL of ``Trajectory`` records (e.g. ``RUN/trajectories/*.jsonl``); with
    ``min_reward``, only those whose reward is at least that."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, None, "no such trajectories file")
    out = []
    for n, line in enumerate(p.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            traj = Trajectory.model_validate_json(line)
        except ValueError as e:
            raise DataError(p, n, f"not a Trajectory record: {str(e)[:200]}") from None
        if not traj.calls or any(not c.output_ids for c in traj.calls if c.output_logprobs):
            raise DataError(p, n, "trajectory has no token ids (saved from a text-only engine?)")
        if min_reward is None or (traj.reward is not None and traj.reward >= min_reward):
            out.append(traj)
    if not out:
        raise DataError(p, None, "no usable trajectories")
    return out


def sft_samples(trajectories: list[Trajectory]) -> list[list[TrainSample]]:
    """Per trajectory, its merged token rows (loss on the model's own tokens only)."""
    return [trajectory_to_samples(t, 1.0, t.id) for t in trajectories]


def run_sft(engine: TrainEngine, trajectories: list[Trajectory], *, steps: int, batch_size: int, seed: int = 0,
            tracker: Tracker | None = None, progress: bool = True,
            max_minutes: float | None = None) -> dict[str, float]:
    """``steps`` optimizer steps of NLL on assistant tokens; each step takes ``batch_size`` trajectories
    from seeded shuffled passes over ``trajectories``. With ``max_minutes``, stops after the step at which
    one more step (at the mean pace so far) would end past that time. Returns the last step's stats, the
    steps done and the time."""
    from tqdm.auto import tqdm

    rows = sft_samples(trajectories)
    rng = random.Random(seed)
    order: list[int] = []
    last: dict[str, float] = {}
    t0 = time.perf_counter()
    bar = tqdm(total=steps, desc="SFT", unit="step", disable=not progress, dynamic_ncols=True)
    for step in range(1, steps + 1):
        picked = []
        while len(picked) < batch_size:
            if not order:
                order = list(range(len(rows)))
                rng.shuffle(order)
            picked.append(order.pop())
        batch = Batch.from_samples([s for i in picked for s in rows[i]])
        stats = engine.train_step(batch, loss="sft")
        last = {f"sft/{k}": v for k, v in stats.items()}
        last["time/sft_elapsed_s"] = time.perf_counter() - t0
        if tracker is not None:
            tracker.log(step, last)
        bar.update(1)
        bar.set_postfix(nll=f"{stats['nll']:.3f}")
        elapsed = time.perf_counter() - t0
        if step < steps and next_step_overruns(elapsed, step, max_minutes):
            log.info("warm start stops after step %d of %d: %.1f min used of sft.max_minutes=%g",
                     step, steps, elapsed / 60, max_minutes)
            break
    bar.close()
    return {**last, "sft_steps": float(step if steps else 0), "sft_seconds": time.perf_counter() - t0}


def save_trajectories(trajectories: list[Trajectory], path: str | Path) -> None:
    """Write trajectories as JSONL (temp file, then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    with tmp.open("w") as f:
        for t in trajectories:
            f.write(json.dumps(t.model_dump(mode="json")) + "\n")
    tmp.replace(p)


def balanced_by_relation(pool: list[Example], n: int) -> list[Example]:
    """``n`` questions of the (shuffled) ``pool``: each kind of question (hop count × type) keeps its share
    of the pool, and within a kind the next question taken is the first, in pool order, whose relations
    have been taken least often so far (mean count over its distinct relations) — so rare relations are
    imitated about as often as common ones, as far as the pool holds them. Deterministic for a given pool order; questions without ``meta["chain"]`` count as one
    relation-less kind, taken in order."""
    from collections import Counter, defaultdict

    if n >= len(pool):
        return list(pool)
    kinds: dict[tuple, list[Example]] = defaultdict(list)
    for q in pool:
        kinds[(q.meta.get("hops"), q.meta.get("type"))].append(q)
    # each kind's quota: its share of n (largest remainders), so that the quotas sum to n
    shares = {k: n * len(v) / len(pool) for k, v in kinds.items()}
    quota = {k: int(s) for k, s in shares.items()}
    for k in sorted(shares, key=lambda k: quota[k] - shares[k])[: n - sum(quota.values())]:
        quota[k] += 1
    # the kinds take turns (each at its own pace), so a relation that only one kind holds is caught up there
    turns = sorted((t / quota[k], j) for j, k in enumerate(kinds) for t in range(quota[k]))
    left = {k: [(q, {h.get("relation") for h in q.meta.get("chain") or [] if h.get("relation")}) for q in qs]
            for k, qs in kinds.items()}
    order = list(kinds)
    seen: Counter[str] = Counter()
    chosen: set[int] = set()
    for _, j in turns:
        cands = left[order[j]]
        taken = [sum(seen[r] for r in rs) / len(rs) if rs else 0.0 for _, rs in cands]
        q, rs = cands.pop(taken.index(min(taken)))
        seen.update(rs)
        chosen.add(id(q))
    return [q for q in pool if id(q) in chosen]


async def warm_start_data(cfg: Any, world_dir: Path, agent: Any, tools: Any, tokenizer: Any,
                          ) -> tuple[list[Trajectory], dict[str, Any]]:
    """The warm-start trajectories of a ``TrainConfig``: ``sft.trajectories`` if given, else oracle
    trajectories of a seeded sample (``sft.max_examples``, default one per trained trajectory) of the train
    questions with
    ``sft.min_hops``..``sft.max_hops`` hops."""
    from asearcher.world import load_questions

    sc = cfg.sft
    if sc.trajectories:
        trajs = load_trajectories(sc.trajectories, sc.min_reward)
        return trajs, {"source": sc.trajectories, "kept": len(trajs)}
    pool = [q for q in load_questions(world_dir, "train") if sc.min_hops <= q.meta.get("hops", 1) <= sc.max_hops]
    random.Random(cfg.seed).shuffle(pool)
    n = sc.max_examples or max(1, sc.steps * sc.batch_size)
    pool = balanced_by_relation(pool, n) if sc.balance_relations else pool[:n]
    trajs, stats = await oracle_trajectories(pool, agent, tools, tokenizer,
                                             valid_inst_ratio=cfg.agent.valid_inst_ratio, seed=cfg.seed)
    log.info("warm start: %d oracle trajectories (%s)", len(trajs), stats)
    return trajs, stats


def warm_start_for(cfg: Any) -> tuple[list[Trajectory], dict[str, Any]]:
    """``warm_start_data`` of a ``TrainConfig`` on its own: opens the world, tokenizer, agent and tools it
    needs, and closes the tools."""
    from asearcher.agent import build_agent
    from asearcher.knowledge import open_tools
    from asearcher.models import load_tokenizer
    from asearcher.world import ensure_world

    world = ensure_world(cfg.world)
    tok = load_tokenizer(cfg.model.name)
    agent = build_agent(cfg.agent, tok, cfg.model.chat_template, topk=cfg.knowledge.topk)
    tools = open_tools(cfg.knowledge, world)

    async def data():
        try:
            return await warm_start_data(cfg, world, agent, tools, tok)
        finally:
            await tools.aclose()

    return asyncio.run(data())


def run_sft_command(cfg: Any, out: Path, oracle_only: bool = False, progress: bool = True) -> dict[str, Any]:
    """``asearcher sft``: warm-start data → ``out/sft/trajectories.jsonl``; unless ``oracle_only``, train and
    write ``out/sft/model`` (weights + tokenizer) and ``out/sft/metrics.jsonl``."""
    from asearcher.models import load_model, load_tokenizer
    from asearcher.trainer.local import LocalTrainEngine

    sft_dir = Path(out) / "sft"
    t0 = time.perf_counter()
    trajs, stats = warm_start_for(cfg)
    save_trajectories(trajs, sft_dir / "trajectories.jsonl")
    result: dict[str, Any] = {**stats, "data_seconds": round(time.perf_counter() - t0, 1)}
    if oracle_only:
        return result
    engine = LocalTrainEngine(load_model(cfg.model.name, device=cfg.model.device), cfg.trainer, lr=cfg.sft.lr,
                              total_steps=cfg.sft.steps, lr_schedule=cfg.sft.lr_schedule,
                              time_frac=budget_fraction(cfg.sft.max_minutes))
    tracker = Tracker(sft_dir, jsonl=cfg.monitoring.jsonl, tensorboard=cfg.monitoring.tensorboard,
                      stdout_every=cfg.monitoring.stdout_every)
    try:
        result.update(run_sft(engine, trajs, steps=cfg.sft.steps, batch_size=cfg.sft.batch_size, seed=cfg.seed,
                              tracker=tracker, progress=progress, max_minutes=cfg.sft.max_minutes))
    finally:
        tracker.close()
    engine.save_checkpoint(sft_dir / "model", weights_only=True)
    load_tokenizer(cfg.model.name).save_pretrained(sft_dir / "model")
    result["model"] = str(sft_dir / "model")
    return result
