"""``asearcher ask "question"``: run the search agent on one question and print its trajectory.

Talks to: ``config`` (file + overrides + flags), ``inference.factory.build_engine`` (the policy engine),
``knowledge.open_tools`` / ``world.ensure_world`` (generated world, an index, a retrieval server) or
``web.open_web_tools`` (``knowledge.source=web``), ``agent``
(``build_agent`` + ``run_episode``). Prints the episode live with rich, or one JSON ``Trajectory`` object
(token ids, logprobs and versions included) with ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from asearcher.cli._common import add_config_args

AGENTS = ("asearcher", "search-r1", "reasoning")


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question", help="the question to answer (dotted KEY=VALUE overrides follow it directly)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--world", metavar="DIR", help="a generated world directory (default: the generated world)")
    src.add_argument("--index", metavar="DIR", help="an index directory built by `asearcher kb build`")
    src.add_argument("--server", metavar="URL", help="a retrieval server started by `asearcher kb serve`")
    parser.add_argument("--model", help="policy model: registry name, HF name or local path")
    parser.add_argument("--agent", choices=AGENTS, help="agent variant (default asearcher)")
    parser.add_argument("--max-turns", type=int, help="maximum LLM calls (default agent.max_turns)")
    parser.add_argument("--temperature", type=float, help="sampling temperature (0 = greedy)")
    parser.add_argument("--json", action="store_true", help="print the trajectory as one JSON object")
    add_config_args(parser)


def resolve_config(args: argparse.Namespace) -> Any:
    """The ``TrainConfig`` for this command: file, then dotted overrides, then the flags."""
    from asearcher.config import TrainConfig, load_config, with_settings

    flags = {("model", "name"): args.model, ("agent", "type"): args.agent,
             ("agent", "max_turns"): args.max_turns, ("agent", "temperature"): args.temperature}
    if args.world:
        flags |= {("knowledge", "source"): "world", ("world", "dir"): args.world}
    elif args.index:
        flags |= {("knowledge", "source"): "index", ("knowledge", "index_dir"): args.index}
    elif args.server:
        flags |= {("knowledge", "source"): "server", ("knowledge", "server_url"): args.server}
    return with_settings(load_config(TrainConfig, args.config, args.overrides), flags, "asearcher ask flags")


def open_source(cfg: Any) -> Any:
    """The agent's tools for ``cfg.knowledge.source`` (the generated world unless told otherwise)."""
    if cfg.knowledge.source == "web":
        from asearcher.web import open_web_tools

        return open_web_tools(cfg.knowledge.web)
    from asearcher.knowledge import open_tools

    world_dir = None
    if cfg.knowledge.source == "world":
        from asearcher.world import ensure_world

        world_dir = ensure_world(cfg.world)
    return open_tools(cfg.knowledge, world_dir)


def run(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    from asearcher.agent import build_agent, run_episode
    from asearcher.inference.factory import build_engine
    from asearcher.models import load_tokenizer
    from asearcher.types import Example

    tokenizer = load_tokenizer(cfg.model.name)
    agent = build_agent(cfg.agent, tokenizer, cfg.model.chat_template, topk=cfg.knowledge.topk)
    tools = open_source(cfg)
    engine = build_engine(cfg.model, cfg.engine, tokenizer)
    printer = None if args.json else TurnPrinter()

    async def main() -> Any:
        try:
            example = Example(id="ask", question=args.question, answers=[])
            return await run_episode(agent, engine, tools, example, on_event=printer)
        finally:
            await tools.aclose()
            close = getattr(engine, "aclose", None)
            if close is not None:
                await close()

    traj = asyncio.run(main())
    if printer is None:
        sys.stdout.write(traj.model_dump_json() + "\n")
    else:
        printer.footer(traj)
    return 0 if traj.stats.finish != "error" else 1


class TurnPrinter:
    """Prints each readable event of an episode as it happens (rich, to stdout)."""

    STYLES = {"think": ("thought", "italic"), "search": ("search", "bold cyan"), "access": ("access", "bold cyan"),
              "observation": ("result", "dim"), "summary": ("notes", "italic yellow"),
              "invalid": ("invalid", "bold red"), "answer": ("answer", "bold green")}
    MAX_CHARS = 800

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(highlight=False, soft_wrap=True)

    def __call__(self, turn: Any) -> None:
        from rich.text import Text

        label, style = self.STYLES[turn.kind]
        if turn.chunk is not None:
            label += f" (page part {turn.chunk + 1})"
        if not turn.ok:
            label, style = label + " (failed)", "bold red"
        body = turn.text if len(turn.text) <= self.MAX_CHARS else turn.text[: self.MAX_CHARS] + " …"
        line = Text(f"{label:>8s} ", style=style)
        line.append(body, style="" if turn.kind in ("search", "access", "answer") else style)
        self.console.print(line)

    def footer(self, traj: Any) -> None:
        from rich.text import Text

        s = traj.stats
        summary = (f"finish={s.finish} answer={traj.answer!r} calls={s.turns} searches={s.searches} "
                   f"accesses={s.accesses} tool_failures={s.tool_failures} invalid={s.invalid_actions} "
                   f"tokens in/out={s.input_tokens}/{s.output_tokens}")
        self.console.print(Text(summary, style="bold"))
        if traj.error:
            self.console.print(Text(f"error: {traj.error}", style="bold red"))
