"""``asearcher eval``: evaluate a search agent on QA sets (resumable), or ``asearcher eval score`` an existing
predictions file without any model.

Parses the config first (no torch), then builds the world/knowledge tools, the engine (in-process or an
OpenAI-compatible server) and the agent, and hands them to ``evaluation.runner.evaluate`` per dataset.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from asearcher.cli._common import add_config_args

USAGE_NOTE = """actions:
  (none)   run the agent:  asearcher eval --data world:test --k 4 --out runs/eval [KEY=VALUE ...]
           a training run's policy with the settings it was trained with (agent, prompt, tools, world):
                           asearcher eval --run RUN_DIR [--policy final|sft|base] [--k 4 ...]
  score    score a predictions file ({"id", "prediction"} or {"id", "predictions": [...]} per line):
           asearcher eval score --data FILE --predictions FILE [--out DIR]
Overrides (KEY=VALUE) go after all options (or right after `score`)."""


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.usage = "asearcher eval [score] [--data NAME_OR_PATH ...] [options] [KEY=VALUE ...]"
    parser.epilog = USAGE_NOTE
    parser.add_argument("--data", action="append", metavar="NAME_OR_PATH",
                        help="question set: a file, world:SPLIT, or a known name (repeatable)")
    parser.add_argument("--data-root", help="folder known benchmark names are relative to ($ASEARCHER_DATA)")
    parser.add_argument("--format", help="force a loader (generic, flashrag, r1searcher, deepresearcher, ircot, "
                                         "hotpotqa, 2wiki, musique, frames, gaia, xbench)")
    parser.add_argument("--source", choices=["world", "index", "server", "web"], help="where the tools search")
    parser.add_argument("--model", help="policy model (registry name, HF name or path); with --base-url also the "
                                        "served model name")
    parser.add_argument("--base-url", help="evaluate a model served by an OpenAI-compatible server at this URL")
    parser.add_argument("--run", metavar="RUN_DIR",
                        help="evaluate a policy of an `asearcher train` run with that run's settings (model, "
                             "world, tools, agent and prompt, evaluation turns; default data world:SPLIT, "
                             "output RUN_DIR/eval-POLICY); flags and KEY=VALUE still apply on top")
    parser.add_argument("--policy", choices=["final", "sft", "base"],
                        help="with --run: the latest RL checkpoint (final, the default), the warm start, or the "
                             "base model")
    parser.add_argument("--agent", choices=["asearcher", "search-r1", "reasoning"], help="agent variant")
    parser.add_argument("--k", type=int, help="samples per question (Avg@k, Pass@k)")
    parser.add_argument("--limit", type=int, help="first N questions of each set")
    parser.add_argument("--per-hop", type=int, metavar="N",
                        help="first N questions of each hop count (world questions); with --run the run's "
                             "eval_per_hop is the default, 0 = all")
    parser.add_argument("--concurrency", type=int, help="episodes in flight")
    parser.add_argument("--temperature", type=float, help="sampling temperature (0 = greedy)")
    parser.add_argument("--metrics", help="comma-separated metrics (em,f1,cem,sub_em,asearcher_f1)")
    parser.add_argument("--judge-url", help="OpenAI-compatible URL of an LLM judge (adds the judge metric)")
    parser.add_argument("--judge-model", help="judge model name")
    parser.add_argument("--out", help="output folder (re-running resumes)")
    parser.add_argument("--predictions", help="score: predictions JSONL")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_args(parser)


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    o: list[str] = []
    if args.data:
        o.append("data=" + json.dumps(args.data))
    simple = {"data_root": "data_root", "format": "format", "source": "knowledge.source", "agent": "agent.type",
              "k": "eval.k", "limit": "eval.limit", "concurrency": "eval.concurrency", "out": "out",
              "temperature": "eval.temperature", "judge_url": "eval.judge_url", "judge_model": "eval.judge_model"}
    for attr, key in simple.items():
        value = getattr(args, attr)
        if value is not None:
            o.append(f"{key}={json.dumps(value) if isinstance(value, str) else value}")
    if args.per_hop is not None:
        o.append(f"per_hop={args.per_hop if args.per_hop > 0 else 'null'}")
    if args.metrics:
        o.append("eval.metrics=" + json.dumps([m.strip() for m in args.metrics.split(",") if m.strip()]))
    if args.model:
        o.append(f"model.name={json.dumps(args.model)}")
    if args.base_url:
        o += ["engine.type=openai", "engine.base_urls=" + json.dumps([args.base_url])]
        if args.model:
            o.append(f"engine.model={json.dumps(args.model)}")
    return o


def run(args: argparse.Namespace) -> int:
    from asearcher.config import load_config, save_config
    from asearcher.config.eval import EvalRunConfig

    positional = list(args.overrides)
    action = positional.pop(0) if positional and positional[0] in ("score", "run") else "run"
    base = run_settings(args.run, args.policy or "final") if args.run else None
    if args.policy and not args.run:
        from asearcher.errors import ConfigError

        raise ConfigError("--policy picks a policy of a training run: add --run RUN_DIR (or give --model)")
    cfg = load_config(EvalRunConfig, args.config, _flag_overrides(args) + positional, base=base)
    if action == "score":
        return _score(cfg, args)
    from asearcher.evaluation.datasets import load_dataset
    from asearcher.evaluation.report import markdown, write_summary
    from asearcher.evaluation.runner import check_fingerprint

    datasets = [load_dataset(d, data_root=cfg.data_root, fmt=cfg.format, world_cfg=cfg.world,
                             limit=cfg.eval.limit, per_hop=cfg.per_hop) for d in cfg.data]
    out = Path(cfg.out)
    for ds in datasets:  # refuse before touching the folder
        check_fingerprint(out / ds.name, fingerprint(cfg, ds.name))
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    summaries = asyncio.run(_run(cfg, datasets, progress=not args.no_progress))

    write_summary(out, summaries)
    print(markdown(summaries))
    print(f"wrote {out / 'summary.json'}, {out / 'summary.md'} and per-dataset trajectories under {out}/")
    return 0


def run_settings(run_dir: str | Path, policy: str = "final") -> dict[str, Any]:
    """``asearcher eval`` settings for one policy of an ``asearcher train`` run: the run's model, world,
    tools, agent (prompt, turn and token limits) and evaluation settings from ``RUN/config.yaml``, the
    policy's weights, data ``world:<the run's eval split>`` (at most the run's ``eval_per_hop`` questions per
    hop count, as its own evaluations), output ``RUN/eval-<policy>``.

    ``final`` is what the run's final evaluation used: its latest RL checkpoint, else (no RL) its warm
    start, else the base model."""
    from asearcher.config import TrainConfig, load_config
    from asearcher.errors import ConfigError
    from asearcher.trainer.checkpoint import latest_checkpoint

    run = Path(run_dir)
    if not (run / "config.yaml").is_file():
        raise ConfigError(f"--run {run}: no config.yaml there (not an `asearcher train` run directory)")
    train = load_config(TrainConfig, run / "config.yaml")
    sft = run / "sft" / "model"
    has_sft = (sft / "config.json").is_file()
    if policy == "final":
        ckpt = latest_checkpoint(run)
        weights = str(ckpt) if ckpt is not None else str(sft) if has_sft else train.model.name
        if ckpt is not None and not any(ckpt.glob("tokenizer*")):
            raise ConfigError(f"--run {run}: checkpoint {ckpt.name} has no tokenizer files (a run from before "
                              "checkpoints carried them); evaluate it with --model PATH after copying the "
                              f"tokenizer files of {train.model.name} into {ckpt}")
    elif policy == "sft":
        if not has_sft:
            raise ConfigError(f"--run {run}: no warm-started model at {sft} (the run had no warm start, or it "
                              "did not finish); use --policy final or base")
        weights = str(sft)
    else:
        weights = train.model.name
    d = train.model_dump(mode="json")
    return {"data": [f"world:{train.eval.split}"], "out": str(run / f"eval-{policy}"),
            "per_hop": train.eval_per_hop,
            "model": {**d["model"], "name": weights}, "world": d["world"], "knowledge": d["knowledge"],
            "agent": d["agent"], "engine": d["engine"], "eval": d["eval"]}


def _score(cfg: Any, args: argparse.Namespace) -> int:
    from asearcher.errors import ConfigError
    from asearcher.evaluation.datasets import load_dataset
    from asearcher.evaluation.report import markdown, write_summary
    from asearcher.evaluation.scoring import score_predictions

    if not args.predictions or not args.data:
        raise ConfigError("eval score needs --data FILE and --predictions FILE")
    if len(cfg.data) != 1:
        raise ConfigError("eval score scores one --data file at a time")
    ds = load_dataset(cfg.data[0], data_root=cfg.data_root, fmt=cfg.format, world_cfg=cfg.world,
                      limit=cfg.eval.limit, per_hop=cfg.per_hop)
    judge = _judge(cfg)
    try:
        summary = asyncio.run(score_predictions(ds, args.predictions, metrics=cfg.eval.metrics,
                                                breakdowns=cfg.eval.breakdowns, judge=judge))
    finally:
        if judge is not None and judge.cache is not None:
            judge.cache.close()
    print(markdown([summary]))
    if args.out:
        write_summary(args.out, summary)
        print(f"wrote {Path(args.out) / 'summary.json'} and summary.md", file=sys.stderr)
    return 0


def _judge(cfg: Any) -> Any:
    if not cfg.eval.judge_url:
        return None
    from asearcher.errors import ConfigError
    from asearcher.evaluation.judge import LLMJudge
    from asearcher.models import asearcher_home

    if not cfg.eval.judge_model:
        raise ConfigError("eval.judge_url needs eval.judge_model (--judge-model), the name the judge serves")
    cache = cfg.eval.judge_cache or str(asearcher_home() / "judge_cache.sqlite")
    return LLMJudge.from_url(cfg.eval.judge_url, cfg.eval.judge_model, cache, api_key_env=cfg.eval.judge_api_key_env)


def fingerprint(cfg: Any, dataset: str) -> dict[str, Any]:
    """What must not change between a run and its resume (concurrency, limit, metrics and judge may)."""
    d = cfg.model_dump(mode="json")
    ev = {k: v for k, v in d["eval"].items() if k in ("k", "temperature", "max_turns", "valid_instruction")}
    return {"dataset": dataset, "model": d["model"], "agent": d["agent"], "knowledge": d["knowledge"],
            "world": d["world"], "engine": {k: d["engine"][k] for k in ("type", "model")}, "eval": ev}


async def _run(cfg: Any, datasets: list[Any], progress: bool) -> list[dict[str, Any]]:
    """Build tokenizer, agent, engine, tools and judge; evaluate each dataset into ``cfg.out/<name>``."""
    from asearcher.agent import build_agent
    from asearcher.cli.ask import open_source
    from asearcher.evaluation.runner import evaluate
    from asearcher.inference.factory import build_engine
    from asearcher.models import load_tokenizer

    tokenizer = load_tokenizer(cfg.model.name)
    agent = build_agent(cfg.agent, tokenizer, cfg.model.chat_template, topk=cfg.knowledge.topk)
    engine = build_engine(cfg.model, cfg.engine, tokenizer=tokenizer)
    tools = open_source(cfg)
    judge = _judge(cfg)
    summaries = []
    try:
        for ds in datasets:
            summaries.append(await evaluate(
                ds.examples, agent, engine, tools, k=cfg.eval.k, concurrency=cfg.eval.concurrency,
                out_dir=Path(cfg.out) / ds.name, dataset=ds.name, metrics=cfg.eval.metrics, judge=judge,
                temperature=cfg.eval.temperature, max_turns=cfg.eval.max_turns,
                valid_instruction=cfg.eval.valid_instruction, breakdowns=cfg.eval.breakdowns,
                save_tokens=cfg.eval.save_tokens, fingerprint=fingerprint(cfg, ds.name), progress=progress))
    finally:
        await tools.aclose()
        close = getattr(engine, "aclose", None)
        if close is not None:
            await close()
        if judge is not None:
            await judge.aclose()
    return summaries

