"""The inference-engine seam (STYLE habit 1): token ids in; output ids, per-token logprobs of the
temperature-scaled distribution, per-token weight versions and a finish reason out.

Implemented by ``hf.HFEngine`` (in-process, CPU default), ``vllm``/``sglang`` remote clients,
``openai.OpenAIEngine`` (text only: ``token_level`` is False, output lists are empty, ``text`` is set)
and ``fake.ScriptedEngine`` (tests). Contract tests in ``tests/contract/test_engine_contract.py`` run over
every implementation.

Weight-update protocol (used by the rollout controller around each training step):
``pause()`` → ``update_weights(...)`` → ``resume()``. Tokens generated after the update carry the new
version; an in-flight request that spans the update reports per-token versions for both parts.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from asearcher.types import GenerateRequest, GenerateResponse


@runtime_checkable
class InferenceEngine(Protocol):
    token_level: bool
    """True when responses carry token ids/logprobs (needed for training); False for text-only engines."""

    @property
    def version(self) -> int:
        """Current weight version (bumped by ``update_weights``)."""
        ...

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        """Generate one completion. Safe to call concurrently; may wait while the engine is paused."""
        ...

    async def pause(self) -> None:
        """Stop decoding at the next step boundary; in-flight requests wait (their KV is recomputed or kept)."""
        ...

    async def resume(self) -> None:
        """Continue decoding after ``pause``."""
        ...

    async def update_weights(self, version: int, state_dict: dict[str, Any] | None = None, path: str | None = None) -> None:
        """Load new weights (from an in-memory state dict or a checkpoint directory) and set ``version``.
        Called while paused."""
        ...


def release_session(engine: Any, session_id: str) -> None:
    """Tell an engine that a trajectory is finished so it can free that trajectory's cached KV (optional)."""
    fn = getattr(engine, "release", None)
    if fn is not None:
        fn(session_id)
