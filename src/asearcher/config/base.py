"""Config loading: YAML/TOML file + dotted CLI overrides → validated pydantic model.

Imports no torch (tested). Errors name the key, the expected type and the file.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from asearcher.errors import ConfigError

T = TypeVar("T", bound=BaseModel)


class Section(BaseModel):
    """Base of every config section: unknown keys are errors; docstrings under fields are descriptions."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``), TOML (``.toml``) or JSON file into a dict."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    text = p.read_text()
    try:
        if p.suffix == ".toml":
            data = tomllib.loads(text)
        elif p.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{p}: cannot parse: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping, got {type(data).__name__}")
    return data


def _parse_value(raw: str) -> Any:
    """Parse an override value with YAML rules (``1e-6`` → float, ``true`` → bool, ``[1,2]`` → list)."""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    # YAML 1.1 reads "1e-6" as a string; accept it as a number.
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") else value
        except ValueError:
            return value
    return value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a nested dict (in place, also returned)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value (e.g. trainer.lr=1e-6)")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = _parse_value(raw)
    return data


def _describe(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """The expected type of the field at ``loc``, read from the model's annotations."""
    cls: Any = model
    annotation: Any = None
    for part in loc:
        fields = getattr(cls, "model_fields", None)
        if not fields or part not in fields:
            break
        annotation = fields[part].annotation
        cls = annotation
    if annotation is None:
        return "?"
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def format_validation_error(model: type[BaseModel], err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for e in err.errors():
        key = ".".join(str(x) for x in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"  - unknown key '{key}': remove it or check its spelling")
        elif e["type"] in ("value_error", "assertion_error") and isinstance(e.get("input"), dict):
            # a validator across a section's fields: its message names them (the section itself would be noise)
            lines.append(f"  - {f'{key!r}: ' if key else ''}{e['msg']}")
        else:
            lines.append(
                f"  - '{key}': {e['msg']} (expected {_describe(model, e['loc'])}, got {e.get('input')!r})"
            )
    return "\n".join(lines)


def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    """The model's default values as plain data, before its validators run (a validator may derive one
    field from another, e.g. the trainer's temperature from the agent's: that must follow the user's data)."""
    defaults = model.model_construct()  # fields without a default stay unset
    return defaults.model_dump(mode="python", include={n for n in model.model_fields if n in defaults.__dict__})


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: dicts merge recursively; any other value (lists included) replaces."""
    out = dict(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(
    model: type[T], path: str | Path | None = None, overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> T:
    """Build a validated config of type ``model`` from an optional file and dotted overrides.

    The file and the overrides are merged key by key onto the model's defaults, so setting one key of a
    section keeps the section's other defaults — also those a parent sets with ``default_factory`` (e.g.
    ``TrainConfig.agent.max_turns = 8``), which validating ``{"agent": {...}}`` alone would reset. ``base``
    (e.g. a training run's settings for ``asearcher eval --run``) goes between the defaults and the file."""
    data = _merge(_merge(_defaults(model), base or {}), read_config_file(path) if path else {})
    apply_overrides(data, list(overrides or []))
    source = str(path) if path else "defaults + overrides"
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(model, e, source)) from None


def save_config(cfg: BaseModel, path: str | Path) -> None:
    """Write the resolved config as YAML (atomic: temp file then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    tmp.replace(p)
