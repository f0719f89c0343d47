"""Synth section: the QA synthesis agent (``asearcher synth``, ``asearcher.synth``).

Two model roles: ``instruct`` writes and edits questions and judges replies; ``reasoning`` answers
questions directly (the difficulty check) and checks validity and uniqueness. Both may be the same
endpoint. Importing this module does not import torch.
"""

from __future__ import annotations

from pydantic import Field

from asearcher.config.base import Section
from asearcher.config.world import WorldConfig


class SynthRoleConfig(Section):
    """Where one model role runs: an OpenAI-compatible server, or the in-process engine."""

    base_url: str | None = None
    """OpenAI-compatible server (``http://127.0.0.1:8000/v1``); ``None`` = the in-process engine."""
    model: str | None = None
    """In process: registry name, HF name or path (``None`` = ``smollm2-135m``). With ``base_url``: the
    model name sent in requests (``None`` = the server's default model)."""
    api_key_env: str = "OPENAI_API_KEY"
    """With ``base_url``: environment variable holding the API key (never logged)."""
    timeout_s: float = Field(default=600.0, gt=0)
    """With ``base_url``: per-request timeout in seconds."""
    max_new_tokens: int = Field(default=512, ge=8)
    """Token budget of one reply of this role (reasoning models need more)."""


class SynthConfig(Section):
    """Everything ``asearcher synth`` needs. Defaults run (slowly) on a 2-core CPU with the bundled model."""

    out: str = "synth/qa.jsonl"
    """Accepted QA, one JSON object per line (``id``, ``question``, ``answer`` …: usable by ``asearcher
    train``). Next to it: ``*.attempts.jsonl`` (every finished attempt, the resume ledger),
    ``*.summary.json``, ``*.report.md``, ``*.stats.png`` and ``*.config.yaml``."""
    n: int = Field(default=8, ge=1)
    """Number of synthesis attempts (attempt ids ``{id_prefix}-{seed}-{index}``); a rerun skips done ids."""
    seed: int = 0
    """Seeds root-page sampling and every LLM call, so a rerun reproduces an attempt."""
    id_prefix: str = "synth"
    """Prefix of attempt ids."""
    pages: str | None = None
    """Pages file (JSONL of ``{url, title, contents}``, optional ``links``); ``None`` = the generated world's
    ``pages.jsonl``."""
    world: WorldConfig = Field(default_factory=WorldConfig)
    """The generated world used when ``pages`` is ``None`` (``world.dir`` = ``--world DIR``)."""
    instruct: SynthRoleConfig = Field(default_factory=SynthRoleConfig)
    """Writes the summary, facts, base QA, actions, linking QA and edits; judges direct answers."""
    reasoning: SynthRoleConfig | None = None
    """Answers questions without tools and checks validity and uniqueness; ``None`` = same as ``instruct``."""
    max_steps: int = Field(default=4, ge=0)
    """Most LLM-chosen actions (inject / fuzz / exit) per attempt after the base QA."""
    n_direct: int = Field(default=4, ge=1)
    """Direct answers sampled from the reasoning model per difficulty check."""
    direct_temperature: float = Field(default=0.8, ge=0.0)
    """Sampling temperature of the direct answers (0 makes all n identical)."""
    temperature: float = Field(default=0.3, ge=0.0)
    """Sampling temperature of every other call (generation, edits, checks)."""
    max_final_accuracy: float = Field(default=0.0, ge=0.0, le=1.0)
    """Keep a finished QA only when its direct-answer accuracy is at most this; also the bar for Exit.
    0 = the paper's "hard" (no direct answer right); 1 keeps every valid, unique QA."""
    json_retries: int = Field(default=2, ge=0)
    """Extra tries (with the parse error fed back) when a reply is not the requested JSON; then the step
    is skipped and counted."""
    max_link_candidates: int = Field(default=12, ge=1)
    """Most linked entities offered to the action chooser."""
    max_page_chars: int = Field(default=4000, ge=200)
    """Page text shown to the model is cut to this many characters."""
    support_threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    """Truth check: a statement is supported by its source page when at least this fraction of its content
    words occur in that page."""
    concurrency: int = Field(default=2, ge=1)
    """Attempts run at once (an asyncio semaphore); each attempt's direct answers run together."""
    progress: bool = True
    """Show a progress bar (stderr)."""
