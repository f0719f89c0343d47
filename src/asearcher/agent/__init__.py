"""Search agents: prompts, token-exact context, parsing and the episode loop.

``build_agent(cfg, tokenizer)`` picks the variant (``asearcher`` default, ``search-r1``, ``reasoning``) and the
turn format (chat template or base); ``run_episode(agent, engine, tools, example)`` runs one question and
returns a ``Trajectory``. Used by rollout, evaluation, ``asearcher ask`` and the UI.
"""

from __future__ import annotations

from typing import Any

from asearcher.agent.base import Agent, CallSpec, Observation
from asearcher.agent.episode import run_episode
from asearcher.agent.parsing import Action, extract_answer, parse_action
from asearcher.config import AgentConfig


def build_agent(cfg: AgentConfig, tokenizer: Any, template: str = "auto", *, topk: int = 3) -> Agent:
    """The agent of ``cfg.type`` for ``tokenizer``.

    Args:
        template: ``chat`` (the tokenizer's chat template), ``base`` (the paper's raw "User: … Assistant:"
            format) or ``auto`` (chat when the tokenizer has a chat template).
        topk: hits per search (``KnowledgeConfig.topk``).
    """
    from asearcher.agent.reasoning import ReasoningAgent
    from asearcher.agent.template import TurnFormat, resolve_template
    from asearcher.agent.transcript import TranscriptAgent

    fmt = TurnFormat(tokenizer, resolve_template(tokenizer, template))
    if cfg.type == "reasoning":
        return ReasoningAgent(cfg, tokenizer, fmt, topk)
    return TranscriptAgent(cfg.type, cfg, tokenizer, fmt, topk)


__all__ = ["Action", "Agent", "CallSpec", "Observation", "build_agent", "extract_answer", "parse_action",
           "run_episode"]
