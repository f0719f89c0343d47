"""``asearcher train`` end to end: the generated world, the policy, an optional supervised warm start,
asynchronous RL with a hop curriculum, and a before/after evaluation (base, warm-started and final policy
on the world's test split by hop count, greedy), written to ``RUN/eval.md`` and ``RUN/eval.json``.

Talks to: ``asearcher.world``, ``asearcher.knowledge.open_tools``, ``asearcher.models``, the engine factory,
the agent, ``evaluation.runner.evaluate``, ``trainer.sft`` and ``trainer.loop``. Every phase is resumable:
finished phases are recorded in ``RUN/phases.json``; RL resumes from its latest checkpoint and evaluations
from their records. A kill during the warm start redoes the warm start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from asearcher.config import TrainConfig
from asearcher.monitoring import Tracker, budget_fraction
from asearcher.trainer import checkpoint as ckpt

log = logging.getLogger(__name__)

PHASES = "phases.json"


class Phases:
    """Finished phases of a run and their results (``RUN/phases.json``, rewritten atomically)."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / PHASES
        self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def done(self, name: str) -> bool:
        return name in self.data

    def mark(self, name: str, result: Any) -> None:
        self.data[name] = result
        self._write()

    def forget(self, name: str) -> None:
        """Make a finished phase run again."""
        self.data.pop(name, None)
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        tmp.replace(self.path)


def eval_examples(cfg: TrainConfig, world_dir: Path) -> list:
    """The evaluation questions: the configured world split, at most ``eval_per_hop`` per hop count (file
    order), then at most ``eval.limit``."""
    from asearcher.evaluation.datasets import first_per_hop
    from asearcher.world import load_questions

    qs = load_questions(world_dir, cfg.eval.split)
    if cfg.eval_per_hop is not None:
        qs = first_per_hop(qs, cfg.eval_per_hop)
    return qs[: cfg.eval.limit] if cfg.eval.limit else qs


def hop_table(records_dir: Path, examples: list, metric: str) -> dict[str, dict[str, float]]:
    """Per hop count (and ``all``): n, accuracy (``metric``, mean over samples), mean tool calls."""
    from asearcher.evaluation.metrics import METRICS
    from asearcher.evaluation.runner import RECORDS, read_records

    by_id = {e.id: e for e in examples}
    groups: dict[str, list[tuple[float, float]]] = {}
    for rec in read_records(records_dir / RECORDS):
        ex = by_id.get(rec.get("id"))
        if ex is None:
            continue
        score = METRICS[metric](rec.get("prediction"), ex.answers)
        st = rec.get("stats") or {}
        calls = float(st.get("searches", 0) + st.get("accesses", 0))
        for key in (str(ex.meta.get("hops", "?")), "all"):
            groups.setdefault(key, []).append((score, calls))
    return {k: {"n": len(v), "acc": sum(s for s, _ in v) / len(v), "tool_calls": sum(c for _, c in v) / len(v)}
            for k, v in sorted(groups.items(), key=lambda kv: (kv[0] == "all", kv[0]))}


def comparison_markdown(tables: dict[str, dict[str, dict[str, float]]], metric: str) -> str:
    """Rows = hop counts; columns = accuracy and tool calls per evaluated policy."""
    phases = list(tables)
    keys = list(dict.fromkeys(k for t in tables.values() for k in t))
    head = ["hops", "n"] + [f"{p} {metric} %" for p in phases] + [f"{p} tool calls" for p in phases]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for k in keys:
        n = next((t[k]["n"] for t in tables.values() if k in t), 0)
        accs = [f"{100 * tables[p][k]['acc']:.1f}" if k in tables[p] else "–" for p in phases]
        calls = [f"{tables[p][k]['tool_calls']:.2f}" if k in tables[p] else "–" for p in phases]
        lines.append("| " + " | ".join([k, str(n), *accs, *calls]) + " |")
    return "\n".join(lines) + "\n"


class Pipeline:
    """Holds the run's components; ``run()`` executes the phases."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, progress: bool = True):
        self.cfg, self.run_dir, self.progress = cfg, run_dir, progress
        self.phases = Phases(run_dir)
        self.timings: dict[str, float] = dict(self.phases.data.get("timings", {}))

    async def run(self, resume: bool) -> dict[str, Any]:
        import torch

        from asearcher.agent import build_agent
        from asearcher.inference.factory import build_engine
        from asearcher.knowledge import open_tools
        from asearcher.models import load_model, load_tokenizer
        from asearcher.world import ensure_world

        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        t0 = time.perf_counter()
        self.world = ensure_world(cfg.world)
        self.tok = load_tokenizer(cfg.model.name)
        if not (self.run_dir / ckpt.TOKENIZER).is_dir():  # copied into every RL checkpoint (self-contained dirs)
            tmp = self.run_dir / (ckpt.TOKENIZER + ".partial")
            self.tok.save_pretrained(tmp)
            tmp.rename(self.run_dir / ckpt.TOKENIZER)
        self.model = load_model(cfg.model.name, dtype="float32", device=cfg.model.device)
        self.engine = build_engine(cfg.model, cfg.engine, self.tok)
        self.tools = open_tools(cfg.knowledge, self.world)
        self.agent = build_agent(cfg.agent, self.tok, cfg.model.chat_template, topk=cfg.knowledge.topk)
        self._time("setup", t0)
        try:
            await self._evaluate("base")
            await self._warm_start()
            await self._evaluate("sft")
            if resume:
                self._reopen_rl_if_extended()
            await self._rl(resume)
            await self._evaluate("final")
        finally:
            await self.tools.aclose()
            close = getattr(self.engine, "aclose", None)
            if close is not None:
                await close()
        return self._report()

    def _time(self, name: str, t0: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
        self.phases.data["timings"] = self.timings

    async def _push(self, version: int) -> None:
        sd = {k: v.detach() for k, v in self.model.state_dict().items()}
        await self.engine.pause()
        try:
            await self.engine.update_weights(version, state_dict=sd)
        finally:
            await self.engine.resume()

    async def _evaluate(self, phase: str) -> None:
        from asearcher.evaluation.runner import evaluate

        cfg = self.cfg
        if phase not in cfg.evaluate or self.phases.done(f"eval_{phase}"):
            return
        if phase == "sft" and not (cfg.sft.enabled and cfg.sft.steps > 0):
            return
        t0 = time.perf_counter()
        examples = eval_examples(cfg, self.world)
        out = self.run_dir / "eval" / phase
        await evaluate(examples, self.agent, self.engine, self.tools, k=cfg.eval.k, concurrency=cfg.eval.concurrency,
                       out_dir=out, dataset=f"world:{cfg.eval.split}", metrics=cfg.eval.metrics,
                       temperature=cfg.eval.temperature, max_turns=cfg.eval.max_turns,
                       valid_instruction=cfg.eval.valid_instruction, breakdowns=["hops", "type"],
                       progress=self.progress)
        table = hop_table(out, examples, cfg.eval_metric)
        self._time(f"eval_{phase}", t0)
        self.phases.mark(f"eval_{phase}", table)
        log.info("%s policy: %s %.1f%% over %d questions", phase, cfg.eval_metric, 100 * table["all"]["acc"],
                 table["all"]["n"])

    async def _warm_start(self) -> None:
        from asearcher.trainer.local import LocalTrainEngine
        from asearcher.trainer.sft import run_sft, save_trajectories, warm_start_data

        cfg, sft_dir = self.cfg, self.run_dir / "sft"
        if not (cfg.sft.enabled and cfg.sft.steps > 0):
            return
        if self.phases.done("sft"):
            if ckpt.latest_checkpoint(self.run_dir) is None:  # RL has not saved newer weights yet
                self.model.load_state_dict(_read_weights(sft_dir / "model"), strict=False)
                await self._push(0)
            return
        t0 = time.perf_counter()
        (sft_dir / "metrics.jsonl").unlink(missing_ok=True)  # a warm start killed midway is redone from scratch
        trajs, stats = await warm_start_data(cfg, self.world, self.agent, self.tools, self.tok)
        save_trajectories(trajs, sft_dir / "trajectories.jsonl")
        tracker = Tracker(sft_dir, jsonl=cfg.monitoring.jsonl, tensorboard=cfg.monitoring.tensorboard,
                          stdout_every=cfg.monitoring.stdout_every)
        try:
            engine = LocalTrainEngine(self.model, cfg.trainer, lr=cfg.sft.lr, total_steps=cfg.sft.steps,
                                      lr_schedule=cfg.sft.lr_schedule, time_frac=budget_fraction(cfg.sft.max_minutes))
            result = await asyncio.to_thread(run_sft, engine, trajs, steps=cfg.sft.steps,
                                             batch_size=cfg.sft.batch_size, seed=cfg.seed, tracker=tracker,
                                             progress=self.progress, max_minutes=cfg.sft.max_minutes)
        finally:
            tracker.close()
        engine.save_checkpoint(sft_dir / "model", weights_only=True)
        self.tok.save_pretrained(sft_dir / "model")
        await self._push(0)
        self._time("sft", t0)
        self.phases.mark("sft", {**stats, **result})

    async def _rl(self, resume: bool) -> None:
        from asearcher.agent import run_episode
        from asearcher.rewards.factory import build_reward_fn
        from asearcher.rollout.data import load_examples
        from asearcher.trainer.local import LocalTrainEngine
        from asearcher.trainer.loop import RLParts, RunLog, rl_loop
        from asearcher.trainer.weight_sync import build_weight_sync
        from asearcher.world import load_questions

        cfg = self.cfg
        if cfg.trainer.steps == 0 or self.phases.done("rl"):
            if self.phases.done("rl") and (path := ckpt.latest_checkpoint(self.run_dir)) is not None:
                LocalTrainEngine(self.model, cfg.trainer).load_checkpoint(path)
                await self._push(int(json.loads((path / "trainer_state.json").read_text())["version"]))
            return
        t0 = time.perf_counter()
        examples = load_examples(cfg.data) if cfg.data else load_questions(self.world, "train")
        train = LocalTrainEngine(self.model, cfg.trainer)
        agent, engine, tools = self.agent, self.engine, self.tools

        async def episode(example, valid, tid):
            return await run_episode(agent, engine, tools, example, valid_instruction=valid, trajectory_id=tid)

        rl_spent_s = 0.0
        if resume and (path := ckpt.latest_checkpoint(self.run_dir)) is not None:
            # forget logs written after the checkpoint BEFORE the tracker opens metrics.jsonl for appending
            RunLog(self.run_dir, 0).truncate(int(path.name.split("_")[1]))
            rl_spent_s = float(json.loads((path / "state.json").read_text()).get("rl_elapsed_s", 0.0))
            # a killed invocation's RL time, up to its checkpoint, counts toward the run's budget
            self.timings["rl"] = max(self.timings.get("rl", 0.0), rl_spent_s)
        spent_s, final_eval_s = sum(self.timings.values()), self._final_eval_estimate()
        rl_minutes = rl_budget_minutes(cfg.max_minutes, spent_s, final_eval_s, cfg.trainer.max_rl_minutes,
                                       rl_spent_s)
        if rl_minutes != cfg.trainer.max_rl_minutes:
            log.info("RL gets %.1f min in total of the run's max_minutes=%g (%.1f min spent, %.1f of them by "
                     "RL; final evaluation estimated at %.1f min)", rl_minutes, cfg.max_minutes, spent_s / 60,
                     rl_spent_s / 60, final_eval_s / 60)
            cfg = cfg.model_copy(update={"trainer": cfg.trainer.model_copy(update={"max_rl_minutes": rl_minutes})})
        parts = RLParts(train, engine, episode, build_reward_fn(cfg.reward, self.run_dir), examples,
                        build_weight_sync(cfg.trainer.weight_sync, train, self.run_dir))
        tracker = Tracker(self.run_dir, jsonl=cfg.monitoring.jsonl, tensorboard=cfg.monitoring.tensorboard,
                          stdout_every=cfg.monitoring.stdout_every)
        try:
            # threads: the loop sizes the trainer's and the in-process engine's (trainer.rl_torch_threads)
            summary = await rl_loop(cfg, self.run_dir, parts, tracker, resume=resume, progress=self.progress)
        finally:
            tracker.close()
        self._time("rl", t0)
        # the caps as configured (not as lowered by the run budget): a resume that loosens one continues a run
        # the cap stopped short of its target (``_reopen_rl_if_extended``)
        self.phases.mark("rl", {**{k: v for k, v in summary.items() if k != "last"},
                                "target_steps": cfg.trainer.steps,
                                "max_rl_minutes": self.cfg.trainer.max_rl_minutes,
                                "max_minutes": self.cfg.max_minutes})

    def _reopen_rl_if_extended(self) -> None:
        """``--resume`` of a finished run that asks for more RL: RL continues from its latest checkpoint, and
        the final evaluation runs again on the new policy (the old one's records move to ``eval/final-step{N}``).

        More RL is asked for by more ``trainer.steps`` than the run was run with (``asearcher train --resume RUN
        trainer.steps=40``), or, when a time cap stopped RL short of its steps, by a looser cap: a larger
        ``trainer.max_rl_minutes`` or ``max_minutes`` (or null). Caps count the run's time in total, so RL gets
        the difference (at least one step). A resume that asks for neither runs nothing and says why."""
        rl = self.phases.data.get("rl")
        if rl is None:
            return
        cfg = self.cfg
        steps, target = int(rl.get("steps", 0)), int(rl.get("target_steps", rl.get("steps", 0)))
        if cfg.trainer.steps > target:
            log.info("trainer.steps=%d > the %d this run's RL was run with: RL continues from step %d",
                     cfg.trainer.steps, target, steps)
        elif steps >= min(target, cfg.trainer.steps):
            return
        elif looser := _looser_caps(rl, cfg):
            log.info("RL stopped at step %d of %d under its time cap; %s: RL continues from step %d",
                     steps, target, " and ".join(looser), steps)
        else:
            log.info("RL stopped at step %d of %d under its time cap (trainer.max_rl_minutes=%s, max_minutes=%s) "
                     "and this resume does not loosen it: nothing more runs. To continue RL, resume with a larger "
                     "trainer.max_rl_minutes or max_minutes (or null), or more trainer.steps.",
                     steps, target, rl.get("max_rl_minutes", "?"), rl.get("max_minutes", "?"))
            return
        self.phases.forget("rl")
        old = self.run_dir / "eval" / "final"
        if old.is_dir():
            dest = old.with_name(f"final-step{steps}")
            shutil.rmtree(dest, ignore_errors=True)
            old.rename(dest)
        self.phases.forget("eval_final")
        # the old evaluation's time stays in the run's total, under its own name: ``eval_final`` times the new one
        if "eval_final" in self.timings:
            self.timings[f"eval_final-step{steps}"] = self.timings.pop("eval_final")
            self.phases.data["timings"] = self.timings

    def _final_eval_estimate(self) -> float:
        """Seconds the final evaluation will take: 2× the latest evaluation's (RL lengthens episodes, and with
        all 40 episodes at once the longest decide: measured final / warm-start ratios on the default run
        0.96–1.5 before 2026-11-27 session 5, then 1.53 (r20) and 1.86 (r21), LOG); 0 when there is none or no
        final evaluation."""
        if "final" not in self.cfg.evaluate:
            return 0.0
        return 2.0 * self.timings.get("eval_sft", self.timings.get("eval_base", 0.0))

    def _report(self) -> dict[str, Any]:
        cfg = self.cfg
        tables = {p: self.phases.data[f"eval_{p}"] for p in ("base", "sft", "final") if self.phases.done(f"eval_{p}")}
        report = {"metric": cfg.eval_metric, "tables": tables, "timings_s": self.timings,
                  "sft": self.phases.data.get("sft"), "rl": self.phases.data.get("rl")}
        if tables:
            md = comparison_markdown(tables, cfg.eval_metric)
            md += "\nPhase times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in self.timings.items()) + "\n"
            _atomic_write(self.run_dir / "eval.md", md)
            report["markdown"] = md
        _atomic_write(self.run_dir / "eval.json", json.dumps(report, indent=1))
        self.phases.mark("timings", self.timings)
        return report


def _looser_caps(rl: dict[str, Any], cfg: TrainConfig) -> list[str]:
    """The time caps ``cfg`` loosens against those a finished RL phase recorded (``phases.json``), as
    ``"name: old → new"``; a cap the record lacks (runs before the caps were recorded) never counts as looser."""
    looser = []
    for name, new in (("trainer.max_rl_minutes", cfg.trainer.max_rl_minutes), ("max_minutes", cfg.max_minutes)):
        key = name.rsplit(".", 1)[-1]
        if key in rl and (old := rl[key]) is not None and (new is None or new > old):
            looser.append(f"{name}: {old:g} → {'null' if new is None else f'{new:g}'}")
    return looser


def rl_budget_minutes(run_minutes: float | None, spent_s: float, final_eval_s: float,
                      rl_minutes: float | None, rl_spent_s: float = 0.0) -> float | None:
    """Minutes of RL time in total: ``rl_minutes`` (``trainer.max_rl_minutes``), lowered so that what is
    spent, the rest of RL and the final evaluation end within ``run_minutes`` (None = no run budget).
    ``rl_spent_s`` is the RL time an earlier invocation of the run used (part of ``spent_s``). At least one RL
    step always runs (the time cap only stops before a next step), so an exhausted budget leaves a token 0.01
    min more."""
    if run_minutes is None:
        return rl_minutes
    total = rl_spent_s / 60 + max((60 * run_minutes - spent_s - final_eval_s) / 60, 0.01)
    return total if rl_minutes is None else min(rl_minutes, total)


def _read_weights(path: Path) -> dict:
    from safetensors.torch import load_file

    state: dict = {}
    for f in sorted(path.glob("*.safetensors")):
        state.update(load_file(str(f)))
    return state


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def run_train(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run (or, with ``resume``, continue) the whole ``asearcher train`` pipeline in ``run_dir``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(Pipeline(cfg, run_dir, progress).run(resume))
