"""``asearcher synth``: synthesize hard, grounded QA with the QA synthesis agent (``asearcher.synth``).

Parses ``SynthConfig`` (file + dotted overrides + flags) first; models, the world generator and the agent
are imported inside ``run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from asearcher.cli._common import add_config_args

# flag → dotted config key
_FLAGS = {"n": "n", "out": "out", "pages": "pages", "world": "world.dir", "seed": "seed",
          "max_steps": "max_steps", "concurrency": "concurrency", "model": "instruct.model",
          "base_url": "instruct.base_url", "reasoning_model": "reasoning.model",
          "reasoning_base_url": "reasoning.base_url"}


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", metavar="DIR", help="generated world directory (pages.jsonl; generated if missing)")
    parser.add_argument("--pages", metavar="FILE", help="any pages JSONL {url, title, contents[, links]} instead")
    parser.add_argument("--n", type=int, help="number of synthesis attempts (default 8)")
    parser.add_argument("--out", metavar="FILE", help="accepted QA JSONL (default synth/qa.jsonl)")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--model", metavar="NAME", help="in-process model for both roles (registry name, HF name "
                                                     "or path; default smollm2-135m)")
    who.add_argument("--base-url", metavar="URL", help="OpenAI-compatible server for the instruct role")
    parser.add_argument("--reasoning-base-url", metavar="URL", help="server for the reasoning role "
                                                                    "(default: same as instruct)")
    parser.add_argument("--reasoning-model", metavar="NAME", help="model of the reasoning role")
    parser.add_argument("--max-steps", type=int, metavar="K", help="most inject/fuzz/exit actions per attempt")
    parser.add_argument("--concurrency", type=int, metavar="C", help="attempts run at once")
    parser.add_argument("--seed", type=int, help="sampling seed (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_args(parser)


def build_config(args: argparse.Namespace) -> Any:
    """``SynthConfig`` from ``--config``, then ``key=value`` overrides, then the flags."""
    from pydantic import ValidationError

    from asearcher.config.base import ConfigError, apply_overrides, format_validation_error, read_config_file
    from asearcher.config.synth import SynthConfig

    data = read_config_file(args.config) if args.config else {}
    apply_overrides(data, list(args.overrides or []))
    for flag, key in _FLAGS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = value
    if args.no_progress:
        data["progress"] = False
    try:
        return SynthConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(SynthConfig, e, args.config or "flags + overrides")) from None


def resolve_pages(cfg: Any) -> Path:
    """The pages file: ``cfg.pages``, else ``pages.jsonl`` of the world (generated when missing)."""
    if cfg.pages:
        return Path(cfg.pages)
    if cfg.world.dir and (Path(cfg.world.dir) / "pages.jsonl").is_file():
        return Path(cfg.world.dir) / "pages.jsonl"
    from asearcher.world import ensure_world

    return Path(ensure_world(cfg.world)) / "pages.jsonl"


def run(args: argparse.Namespace) -> int:
    import asyncio

    from asearcher.synth.pages import load_pages
    from asearcher.synth.roles import build_roles, close_roles
    from asearcher.synth.runner import output_paths, run_synthesis

    cfg = build_config(args)
    graph = load_pages(resolve_pages(cfg))
    instruct, reasoning = build_roles(cfg)

    async def main() -> dict[str, Any]:
        try:
            return await run_synthesis(cfg, graph, instruct, reasoning)
        finally:
            await close_roles(instruct, reasoning)

    summary = asyncio.run(main())
    paths = output_paths(cfg.out)
    truth = summary["truth"]
    err = "n/a" if truth["error_rate"] is None else f"{truth['error_rate']:.1%}"
    print(f"attempts {summary['attempts']}: accepted {summary['accepted']}, rejected {summary['rejected']} "
          f"{summary['rejected_by_reason']}")
    print(f"truth check: {truth['correct']}/{truth['checked']} correct (error rate {err})")
    for key in ("out", "attempts", "summary", "report", "png"):
        print(f"{key:9s} {paths[key]}")
    return 0
