"""Evaluation section (``TrainConfig.eval``, and ``EvalRunConfig.eval``) and the whole ``asearcher eval`` config."""

from __future__ import annotations

from pydantic import Field, field_validator

from asearcher.config.agent import AgentConfig
from asearcher.config.base import Section
from asearcher.config.engine import EngineConfig
from asearcher.config.knowledge import KnowledgeConfig
from asearcher.config.model import ModelConfig
from asearcher.config.world import WorldConfig


class EvalConfig(Section):
    split: str = "test"
    """World split evaluated after training."""
    limit: int | None = Field(default=None, ge=1)
    """Evaluate at most this many questions (None = all)."""
    k: int = Field(default=1, ge=1)
    """Samples per question (Avg@k, Pass@k)."""
    temperature: float = Field(default=0.0, ge=0)
    """0 = greedy (reproducible)."""
    concurrency: int = Field(default=8, ge=1)
    """Episodes evaluated at once."""
    metrics: list[str] = Field(default_factory=lambda: ["em", "f1", "cem", "sub_em"])
    """Lexical metrics: ``em``, ``f1`` (SQuAD multiset token F1), ``cem`` (cover-EM), ``sub_em`` (substring EM),
    ``asearcher_f1`` (ASearcher's set-based training F1). ``judge`` is added when ``judge_url`` is set."""
    max_turns: int | None = Field(default=None, ge=1)
    """LLM calls per episode during evaluation (None = ``agent.max_turns``)."""
    valid_instruction: bool = True
    """Prompt variant that allows answering "the question is invalid" (ASearcher evaluates with it)."""
    breakdowns: list[str] = Field(default_factory=lambda: ["source", "hops", "level"])
    """Example meta keys the summary is broken down by (when they split the set into ≥ 2 groups)."""
    save_tokens: bool = False
    """Keep every call's token ids in ``trajectories.jsonl`` (large; the text is always kept)."""
    judge_url: str | None = None
    """OpenAI-compatible base URL of an LLM judge; adds the ``judge`` metric."""
    judge_model: str | None = None
    """Judge model name sent to ``judge_url`` (recorded in every summary)."""
    judge_api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the judge's API key (never logged)."""
    judge_cache: str | None = None
    """SQLite file caching judge verdicts (None = ``$ASEARCHER_HOME/judge_cache.sqlite``)."""

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, v: list[str]) -> list[str]:
        known = {"em", "f1", "cem", "sub_em", "asearcher_f1"}
        bad = [m for m in v if m not in known]
        if bad:
            raise ValueError(f"unknown metric(s) {bad}; choose from {sorted(known)} (set judge_url for the judge)")
        if not v:
            raise ValueError("at least one metric is needed")
        return v


class EvalRunConfig(Section):
    """Everything ``asearcher eval`` needs; saved as ``config.yaml`` in the output folder."""

    data: list[str] = Field(default_factory=lambda: ["world:test"])
    """Question sets: file paths (format auto-detected), ``world:SPLIT``, or known benchmark names."""
    data_root: str | None = None
    """Folder that known benchmark names (``frames``, ``nq`` …) are relative to (default ``$ASEARCHER_DATA``)."""
    format: str | None = None
    """Force a loader (``generic``, ``flashrag``, ``r1searcher``, ``deepresearcher``, ``ircot``, ``hotpotqa``,
    ``2wiki``, ``musique``, ``frames``, ``gaia``, ``xbench``) instead of auto-detection."""
    per_hop: int | None = Field(default=None, ge=1)
    """At most this many questions of each hop count (``hops`` in an example's meta: the generated world),
    file order, before ``eval.limit``; None = all. ``asearcher eval --run`` takes the run's ``eval_per_hop``,
    so its numbers are on the questions the run's own evaluations used."""
    out: str = "runs/eval"
    """Output folder; re-running with the same folder resumes."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    world: WorldConfig = Field(default_factory=WorldConfig)
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
