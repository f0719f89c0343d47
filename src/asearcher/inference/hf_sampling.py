"""Pure sampling and stopping helpers of the in-process engine (``hf.HFEngine``): temperature / top-k /
top-p sampling with per-token logprobs, and stop-string detection on the decoded tail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class SamplingParams:
    """Per-row sampling settings (copied from a ``GenerateRequest``)."""

    temperature: float
    top_p: float = 1.0
    top_k: int = -1
    generator: torch.Generator | None = None


def behaviour_logprobs(logits: torch.Tensor, temperatures: Sequence[float]) -> torch.Tensor:
    """Row-wise ``log_softmax(logits.float() / T)``; ``T = 0`` (greedy) uses ``T = 1``.

    This is exactly what the trainer recomputes for the sampled tokens (engines.md §3), so behaviour and
    proximal logprobs agree up to float noise. Top-k/top-p do not enter it: with them on, the reported
    logprob is of the full temperature-scaled distribution, not of the truncated one actually sampled.
    """
    temps = torch.tensor([t if t > 0 else 1.0 for t in temperatures], dtype=torch.float32, device=logits.device)
    return torch.log_softmax(logits.float() / temps[:, None], dim=-1)


def truncate(logprobs: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Mask one row of log-probabilities to its top-k tokens, then to the smallest set whose renormalised
    probability reaches ``top_p`` (the most likely token always survives). Returns renormalised logprobs."""
    lp = logprobs
    if 0 < top_k < lp.shape[-1]:
        kth = torch.topk(lp, top_k).values[-1]
        lp = torch.log_softmax(lp.masked_fill(lp < kth, float("-inf")), dim=-1)
    if top_p < 1.0:
        sorted_lp, order = torch.sort(lp, descending=True)
        probs = sorted_lp.exp()
        before = torch.cumsum(probs, dim=-1) - probs  # mass of strictly more likely tokens
        drop = before >= top_p
        drop[0] = False
        lp = torch.log_softmax(lp.index_fill(-1, order[drop], float("-inf")), dim=-1)
    return lp


def sample(logits: torch.Tensor, params: Sequence[SamplingParams]) -> tuple[list[int], list[float]]:
    """Choose one token per row of ``logits`` (``[n, vocab]``) and return (tokens, behaviour logprobs).

    ``temperature == 0`` takes the argmax; otherwise the row is sampled from ``softmax(logits / T)``,
    truncated by top-k/top-p when set, with the row's generator (None = torch's default one).
    """
    logp = behaviour_logprobs(logits, [p.temperature for p in params])
    tokens: list[int] = []
    for i, p in enumerate(params):
        if p.temperature <= 0:
            tokens.append(int(torch.argmax(logp[i])))
            continue
        tokens.append(draw(truncate(logp[i], p.top_k, p.top_p), p.generator))
    chosen = logp.gather(1, torch.tensor(tokens, device=logp.device)[:, None])[:, 0]
    return tokens, chosen.tolist()


def draw(logprobs: torch.Tensor, generator: torch.Generator | None) -> int:
    """One token from a row of log-probabilities by inverse CDF (one uniform draw; ~15x faster than
    ``torch.multinomial`` on a 49k vocabulary on CPU). Zero-probability tokens are never drawn."""
    cdf = torch.cumsum(logprobs.double().exp(), dim=-1)
    u = torch.rand(1, generator=generator, dtype=torch.float64, device=cdf.device) * cdf[-1]
    return min(int(torch.searchsorted(cdf, u, right=True)), cdf.shape[-1] - 1)


class StopMatcher:
    """Detects stop strings on the decoded tail of an output, one token at a time.

    Only the last few tokens are decoded (enough to cover the longest stop string even when one character
    spans several byte-level tokens), so each check costs O(longest stop string), not O(output).
    """

    def __init__(self, tokenizer: Any, stops: Sequence[str]):
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.window = 4 * max((len(s) for s in self.stops), default=0) + 4

    def hit(self, output_ids: Sequence[int]) -> bool:
        """True when the decoded output contains a stop string (called after every new token, so the match
        is always completed by the newest token)."""
        if not self.stops:
            return False
        tail = self.tokenizer.decode(list(output_ids[-self.window:]), skip_special_tokens=True)
        return any(s in tail for s in self.stops)
