"""The few exception classes of asearcher.

Two tiers (STYLE habit 8): ``ToolError`` is caused by the model (bad query, dead URL) and becomes an
observation the agent sees; everything else is caused by us or the environment and propagates with a
message that says what happened, why, and how to fix it.
"""

from __future__ import annotations


class AsearcherError(Exception):
    """Base class of all asearcher errors."""


class ToolError(AsearcherError):
    """A tool call failed because of what the model asked for; shown to the model as an observation."""


class ToolUnavailableError(AsearcherError):
    """A tool backend stayed unreachable after bounded retries (our side, not the model's)."""


class ConfigError(AsearcherError):
    """Invalid configuration: names the key, the expected type and how to fix it."""


class DataError(AsearcherError):
    """Malformed input data: names the file, the line, the field and how to fix it."""

    def __init__(self, path: object, line: int | None, reason: str):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {reason}")
        self.path, self.line, self.reason = path, line, reason


class EngineError(AsearcherError):
    """The inference engine failed (down, bad response, shape mismatch)."""


class ModelError(AsearcherError):
    """A model could not be located, converted or loaded."""
