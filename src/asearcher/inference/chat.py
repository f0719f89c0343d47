"""Chat-level adapter over any ``InferenceEngine``: messages in, text out.

Used where token data is not needed (LLM judge, QA synthesis, evaluation of hosted models). For token
engines it renders the tokenizer's chat template; for text-only engines it forwards the messages.
"""

from __future__ import annotations

from typing import Any

from asearcher.inference.base import InferenceEngine
from asearcher.types import GenerateRequest


class ChatModel:
    """``await ChatModel(engine, tokenizer).complete(messages)`` → assistant text."""

    def __init__(self, engine: InferenceEngine, tokenizer: Any | None = None, name: str = ""):
        if engine.token_level and tokenizer is None:
            raise ValueError("ChatModel over a token-level engine needs the tokenizer to render the chat template")
        self.engine = engine
        self.tokenizer = tokenizer
        self.name = name
        """Model name, recorded next to judgments and synthesized data."""

    async def complete(self, messages: list[dict[str, str]], max_new_tokens: int = 512,
                       temperature: float = 0.0, stop: list[str] | None = None, seed: int | None = None) -> str:
        if self.engine.token_level:
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if hasattr(ids, "keys"):  # transformers 5 may return a BatchEncoding
                ids = ids["input_ids"]
            req = GenerateRequest(input_ids=list(ids), max_new_tokens=max_new_tokens, temperature=temperature,
                                  stop=list(stop or []), stop_token_ids=[self.tokenizer.eos_token_id], seed=seed)
        else:
            req = GenerateRequest(input_ids=[], max_new_tokens=max_new_tokens, temperature=temperature,
                                  stop=list(stop or []), messages=messages, seed=seed)
        resp = await self.engine.generate(req)
        if self.engine.token_level:
            return self.tokenizer.decode(resp.output_ids, skip_special_tokens=True)
        return resp.text
