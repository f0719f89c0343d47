"""Build the two model roles (instruct, reasoning) of the synthesis agent from ``SynthConfig``: an
OpenAI-compatible server (``base_url``) or the in-process engine. Roles that name the same endpoint share
one engine (one model load, one HTTP client).

Talks to: ``asearcher.inference.openai.OpenAIEngine``, ``asearcher.inference.factory.build_engine`` and
``asearcher.models.load_tokenizer`` (imported inside functions: they pull in torch / httpx).
"""

from __future__ import annotations

from typing import Any

from asearcher.config.synth import SynthConfig, SynthRoleConfig
from asearcher.inference.chat import ChatModel
from asearcher.synth.llm import Role

DEFAULT_MODEL = "smollm2-135m"


def _endpoint(role: SynthRoleConfig) -> tuple[str | None, str | None, str]:
    return role.base_url, role.model, role.api_key_env


def build_chat(role: SynthRoleConfig) -> ChatModel:
    """A ``ChatModel`` for one role (server when ``base_url`` is set, else in process)."""
    if role.base_url:
        from asearcher.inference.openai import OpenAIEngine

        engine = OpenAIEngine(role.base_url, model=role.model, api_key_env=role.api_key_env,
                              timeout_s=role.timeout_s)
        return ChatModel(engine, None, name=role.model or role.base_url)
    from asearcher.config.engine import EngineConfig
    from asearcher.config.model import ModelConfig
    from asearcher.inference.factory import build_engine
    from asearcher.models import load_tokenizer

    name = role.model or DEFAULT_MODEL
    tokenizer = load_tokenizer(name)
    engine = build_engine(ModelConfig(name=name), EngineConfig(type="hf"), tokenizer=tokenizer)
    return ChatModel(engine, tokenizer, name=name)


def build_roles(cfg: SynthConfig) -> tuple[Role, Role]:
    """(instruct, reasoning); ``reasoning=None`` or the same endpoint reuses the instruct engine."""
    instruct_chat = build_chat(cfg.instruct)
    reasoning_cfg = cfg.reasoning or cfg.instruct
    same = _endpoint(reasoning_cfg) == _endpoint(cfg.instruct)
    reasoning_chat = instruct_chat if same else build_chat(reasoning_cfg)
    return Role(instruct_chat, cfg.instruct.max_new_tokens), Role(reasoning_chat, reasoning_cfg.max_new_tokens)


async def close_roles(*roles: Role) -> None:
    """Close each distinct engine that has ``aclose`` (HTTP clients, engine loops)."""
    seen: set[int] = set()
    for role in roles:
        engine: Any = role.chat.engine
        if id(engine) in seen:
            continue
        seen.add(id(engine))
        close = getattr(engine, "aclose", None)
        if close is not None:
            await close()
