"""The agent's context in token space: a list of segments (prompt, model output, observation).

Model-output segments keep the engine's exact ids (never decoded and re-tokenised); prompt and observation
segments are tokenised from their text (mask-0 tool tokens for the trainer). Appending keeps every call's
input a token prefix of the next call's input; ``replace`` (page compression) is the only operation that
breaks it. Each segment also carries the chat messages it stands for, for text-only engines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SegmentKind = Literal["prompt", "output", "observation"]


@dataclass
class Segment:
    kind: SegmentKind
    ids: list[int]
    text: str
    messages: list[dict[str, str]] = field(default_factory=list)
    """The chat messages this segment adds (system/user for prompts and observations, assistant for outputs)."""


@dataclass
class Context:
    segments: list[Segment] = field(default_factory=list)

    def append(self, seg: Segment) -> int:
        """Add a segment; returns its index."""
        self.segments.append(seg)
        return len(self.segments) - 1

    def replace(self, index: int, seg: Segment) -> None:
        """Swap one segment for another (its short form): later calls no longer extend earlier ones."""
        self.segments[index] = seg

    @property
    def ids(self) -> list[int]:
        return [t for s in self.segments for t in s.ids]

    def __len__(self) -> int:
        return sum(len(s.ids) for s in self.segments)

    @property
    def last_id(self) -> int | None:
        for s in reversed(self.segments):
            if s.ids:
                return s.ids[-1]
        return None

    def messages(self) -> list[dict[str, str]]:
        """The conversation as chat messages (consecutive messages of the same role are merged)."""
        out: list[dict[str, str]] = []
        for s in self.segments:
            for m in s.messages:
                if out and out[-1]["role"] == m["role"]:
                    out[-1] = {"role": m["role"], "content": out[-1]["content"] + "\n\n" + m["content"]}
                else:
                    out.append(dict(m))
        return out


def chunk_text(text: str, size: int, max_chunks: int) -> list[str]:
    """Split a page into at most ``max_chunks`` pieces of ``size`` characters (the rest is dropped)."""
    return [text[i:i + size] for i in range(0, min(len(text), size * max_chunks), size)]


def split_title(title: str, contents: str) -> tuple[str, str]:
    """(title, body) of a hit whose contents may repeat the title on its first line (wiki-18 style
    ``"Title"\\ntext``)."""
    first, sep, rest = contents.partition("\n")
    head = first.strip().strip('"').strip()
    if sep and head and (head == title.strip() or (not title and first.strip().startswith('"'))):
        return head, rest.strip()
    return title.strip(), contents.strip()
