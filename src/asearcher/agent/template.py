"""Prompt files and turn formats: how a conversation becomes token ids, for chat and base models.

``load_prompts`` reads the sectioned prompt files shipped in ``agent/prompts/`` (package data).
``TurnFormat`` renders the first prompt and each tool observation as text that is appended, as tokens, after
what the model generated. For chat models the pieces (end of the assistant turn, a user turn, the assistant
generation prompt) are derived from the tokenizer's own chat template by rendering short conversations and
taking differences, so no template (ChatML or other) is hard-coded. Used by the agents in this package.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from typing import Any, Literal

from asearcher.errors import ConfigError

TemplateKind = Literal["chat", "base"]

_SECTION = re.compile(r"^=== ([a-z_]+) ===\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@functools.cache
def load_prompts(name: str) -> dict[str, str]:
    """Sections of ``agent/prompts/<name>.txt``: ``=== key ===`` header lines, each followed by its text
    (leading/trailing blank lines removed)."""
    raw = importlib.resources.files("asearcher.agent").joinpath("prompts", f"{name}.txt").read_text("utf-8")
    parts = _SECTION.split(raw)
    if len(parts) < 3:
        raise ConfigError(f"prompt file {name}.txt has no '=== section ===' headers")
    return {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}


def fill(template: str, **values: Any) -> str:
    """Replace ``{key}`` placeholders in one pass (unknown keys and other braces are left alone, and text
    inserted for one key is never scanned for another)."""
    return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], template)


def resolve_template(tokenizer: Any, template: str) -> TemplateKind:
    """``auto`` → ``chat`` when the tokenizer has a chat template, else ``base``."""
    if template == "auto":
        return "chat" if getattr(tokenizer, "chat_template", None) else "base"
    if template not in ("chat", "base"):
        raise ConfigError(f"template must be chat, base or auto, got {template!r}")
    if template == "chat" and not getattr(tokenizer, "chat_template", None):
        raise ConfigError("template 'chat' was asked for but the tokenizer has no chat template; use 'base'")
    return template  # type: ignore[return-value]


class TurnFormat:
    """Renders prompts and observations for one tokenizer (chat template or the raw base format).

    Chat: ``prompt`` = template(system, user) + generation prompt + prefill; ``observation`` = end of the
    assistant turn (skipped when the model already emitted that token) + user turn + generation prompt +
    prefill. Base (the paper's format): ``system\\n\\nUser: user\\n\\nAssistant: prefill`` and observations
    inline as ``\\n\\ncontent\\n\\nprefill``.
    """

    def __init__(self, tokenizer: Any, kind: TemplateKind):
        self.tokenizer = tokenizer
        self.kind = kind
        specials = [t for t in getattr(tokenizer, "all_special_tokens", []) if len(t) > 1]
        self._specials = sorted(specials, key=len, reverse=True)
        stop = {tokenizer.eos_token_id, tokenizer.pad_token_id}
        if kind == "chat":
            self._derive_chat_pieces()
            first = self.encode(self.assistant_end)[:1]
            if first and first[0] in set(getattr(tokenizer, "all_special_ids", [])):
                stop.add(first[0])  # e.g. a dedicated end-of-turn token
        self.stop_token_ids = sorted(t for t in stop if t is not None)

    def _render(self, messages: list[dict[str, str]], gen: bool) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)

    def _derive_chat_pieces(self) -> None:
        s, u1, a, u2 = "SYS\u2460", "USR\u2461", "AST\u2462", "USR\u2463"
        try:
            head = [{"role": "system", "content": s}, {"role": "user", "content": u1}]
            p = self._render(head, True)
        except Exception:  # templates without a system role: fold it into the user turn
            head = [{"role": "user", "content": s + "\n\n" + u1}]
            p = self._render(head, True)
            self._system_role = False
        else:
            self._system_role = True
        q = self._render([*head, {"role": "assistant", "content": a}], False)
        r = self._render([*head, {"role": "assistant", "content": a}, {"role": "user", "content": u2}], True)
        if not (q.startswith(p + a) and r.startswith(q) and u2 in r[len(q):]):
            raise ConfigError(
                "cannot split this tokenizer's chat template into turns (rendering a second turn does not extend "
                "the first); use template 'base'"
            )
        self.assistant_end = q[len(p) + len(a):]
        tail = r[len(q):]
        self.user_start, self.user_end_and_gen = tail.split(u2, 1)

    def defuse(self, text: str) -> str:
        """Tool/question text with special-token strings broken up, so a page cannot inject control tokens."""
        for tok in self._specials:
            if tok in text:
                text = text.replace(tok, tok[0] + " " + tok[1:])
        return text

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def prompt(self, system: str, user: str, prefill: str = "") -> str:
        user = self.defuse(user)
        if self.kind == "base":
            return f"{system}\n\nUser: {user}\n\nAssistant: {prefill}"
        if self._system_role:
            msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        else:
            msgs = [{"role": "user", "content": system + "\n\n" + user}]
        return self._render(msgs, True) + prefill

    def observation(self, content: str, prefill: str = "", after_id: int | None = None) -> str:
        """Text that follows a model output whose last token is ``after_id``."""
        content = self.defuse(content)
        if self.kind == "base":
            return f"\n\n{content}\n\n{prefill}"
        end = self.assistant_end
        if after_id is not None and after_id in self.stop_token_ids:
            tok = self.tokenizer.decode([after_id])
            if end.startswith(tok):
                end = end[len(tok):]
        return end + self.user_start + content + self.user_end_and_gen + prefill
