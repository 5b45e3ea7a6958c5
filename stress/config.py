"""TOML configs validated by pydantic, with errors that name the file, the key and what
was expected. Unknown keys are errors everywhere (DESIGN §6)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(Exception):
    """Bad input: the CLI prints it and exits 2."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RunSection(Strict):
    seeds: int = Field(100, ge=1, description="how many seeds to run")
    seed_start: int = Field(0, ge=0)
    strategy: Literal["random"] = "random"
    max_steps: int = Field(20_000, ge=1, description="a run that reaches it ends as step_bound")


class ChecksSection(Strict):
    disable: list[str] = Field(default_factory=list, description="checker names to switch off")
    expect_warn: list[str] = Field(
        default_factory=list, description='WARN sites that are not failures: "site" or "site:cond"')


class StressConfig(Strict):
    run: RunSection = Field(default_factory=RunSection)
    checks: ChecksSection = Field(default_factory=ChecksSection)


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    *parents, last = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def _path(loc: tuple[Any, ...], raw: Any) -> str:
    """`('group', 0, 'device', 1, 'ats')` -> `group[0].device[1].ats`, dropping the
    union tags pydantic inserts (they are not keys of the file)."""
    out = ""
    node = raw
    for item in loc:
        if isinstance(item, int) and isinstance(node, list):
            out += f"[{item}]"
            node = node[item] if item < len(node) else None
        elif isinstance(node, dict) and item in node:
            out += f".{item}" if out else str(item)
            node = node[item]
        elif isinstance(node, dict) and isinstance(item, str) and node.get("kind") == item:
            continue  # discriminated-union tag
        else:
            out += f".{item}" if out else str(item)
            node = None
    return out or "(top level)"


def _allowed(model: type[BaseModel], loc: tuple[Any, ...], raw: Any) -> list[str]:
    """The keys the model accepts at the table holding `loc`'s last key."""
    node: Any = model
    value = raw
    for item in loc[:-1]:
        if isinstance(item, int):
            value = value[item] if isinstance(value, list) and item < len(value) else None
            continue
        if isinstance(value, dict) and isinstance(item, str) and item not in value \
                and value.get("kind") == item:
            continue
        field = node.model_fields.get(item) if isinstance(node, type) else None
        if field is None:
            return []
        node = _model_in(field.annotation, value.get(item) if isinstance(value, dict) else None)
        value = value.get(item) if isinstance(value, dict) else None
        if node is None:
            return []
    return list(node.model_fields) if isinstance(node, type) else []


def _model_in(annotation: Any, value: Any) -> type[BaseModel] | None:
    """The BaseModel inside `list[X]`, `X | None` or an Annotated union of X on `kind`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = getattr(annotation, "__args__", ()) or getattr(annotation, "__metadata__", ())
    origin = getattr(annotation, "__origin__", None)
    candidates = list(args) + ([origin] if origin is not None else [])
    item = value[0] if isinstance(value, list) and value else value
    for arg in candidates:
        found = _model_in(arg, item)
        if found is not None:
            kind = getattr(found.model_fields.get("kind"), "default", None)
            if kind is None or not isinstance(item, dict) or item.get("kind") == kind:
                return found
    return None


def describe_errors(source: str, exc: ValidationError, model: type[BaseModel],
                    raw: Any) -> str:
    lines = []
    for e in exc.errors():
        where = f"{source}: {_path(e['loc'], raw)}"
        if e["type"] == "extra_forbidden":
            allowed = _allowed(model, e["loc"], raw)
            hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
            lines.append(f"{where}: unknown key{hint}")
        elif e["type"] == "missing":
            lines.append(f"{where}: required key is missing")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            got = "" if e["type"] == "value_error" else f" (got {e['input']!r})"
            lines.append(f"{where}: {msg}{got}")
    return "\n".join(lines)


def load(model: type[BaseModel], path: Path, overrides: dict[str, Any] | None = None) -> Any:
    """Read, apply command-line overrides (dotted keys), validate."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config: {e.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return validate(model, raw, str(path), overrides)


def validate(model: type[BaseModel], raw: dict[str, Any], source: str,
             overrides: dict[str, Any] | None = None) -> Any:
    for key, value in (overrides or {}).items():
        if value is not None:
            _set(raw, key, value)
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(describe_errors(source, e, model, raw)) from None
