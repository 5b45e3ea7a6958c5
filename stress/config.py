"""TOML configs validated by pydantic, with errors that name the file, the key and what
was expected. Unknown keys are errors everywhere."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(Exception):
    """Bad input: the CLI prints it and exits 2."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# Seeds are 0 .. 2^53-1: every JSON reader keeps such an integer exact (JavaScript's,
# in the HTML page, included), so a seed reads back as the seed that ran.
MAX_SEED = (1 << 53) - 1


class RunSection(Strict):
    """How many seeds, from which, under which schedule."""

    seeds: int = Field(100, ge=1, le=MAX_SEED + 1, description="how many seeds to run")
    seed_start: int = Field(0, ge=0, le=MAX_SEED, description="the first seed (at most 2^53-1)")
    strategy: Literal["portfolio", "random", "pct", "pos", "surw"] = Field(
        "portfolio", description="portfolio gives the seeds random, pos and surw in turn, "
        "weighted by the config's calibration runs")
    pct_depth: int = Field(2, ge=1, le=3, description="bug depth d for strategy = pct")
    max_steps: int = Field(20_000, ge=1, description="a run that reaches it ends as step_bound")
    step_bound_warn: float = Field(0.0, ge=0, le=1, description="a share of step-bound seeds "
                                   "above this is a warning")
    fail_on_step_bound: bool = Field(False, description="a step-bound seed makes the sweep "
                                     "exit 1 (a livelock is a finding)")
    workers: int = Field(1, ge=0, description="worker processes; 0: all cores")

    @model_validator(mode="after")
    def _seeds_in_range(self) -> "RunSection":
        last = self.seed_start + self.seeds - 1
        if last > MAX_SEED:
            raise ValueError(f"run.seed_start: {self.seeds} seeds from {self.seed_start} "
                             f"end at {last}, past the last seed {MAX_SEED} (2^53-1)")
        return self


class ChecksSection(Strict):
    """Which checkers run, and which WARNs are expected rather than failures."""

    disable: list[str] = Field(default_factory=list, description="checker names to switch off")
    expect_warn: list[str] = Field(
        default_factory=list, description='WARN sites that are not failures: "site" or "site:cond"')


class SwarmSection(Strict):
    """Swarm testing: each seed runs a different mix of actor kinds, operations, faults."""

    enabled: bool = Field(False, description="vary the mix of actors and faults per seed")
    actors: float = Field(0.75, ge=0, le=1, description="chance an actor kind is on in a run")
    faults: float = Field(0.5, ge=0, le=1, description="chance a fault site is armed in a run")


class TimingSection(Strict):
    """Virtual durations: nominal, or drawn per seed from the range the target allows
    (stress/timing.py). A target adds one key per kind of wait, to pin it."""

    draw: bool = Field(False, description="draw every duration per seed from its range "
                       "(off: each is its nominal value, as the kernel's constants say)")
    think: float = Field(0.0, ge=0, description="actors pause up to this many virtual "
                         "seconds before each operation (drawn; needs draw = true)")

    @model_validator(mode="after")
    def _think_drawn(self) -> "TimingSection":
        if self.think and not self.draw:
            raise ValueError("timing.think: think times are drawn, so they need "
                             "timing.draw = true; expected draw = true or think = 0")
        return self

    def pins(self) -> dict[str, float]:
        """The durations the config pins, by kind: every key a target adds that is set."""
        return {key: value for key, value in self if key not in TimingSection.model_fields
                and value is not None}


class StressConfig(Strict):
    run: RunSection = Field(default_factory=RunSection)
    timing: TimingSection = Field(default_factory=TimingSection)
    checks: ChecksSection = Field(default_factory=ChecksSection)
    swarm: SwarmSection = Field(default_factory=SwarmSection)
    faults: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict, description="fault site -> probability that a call there fails")


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    *parents, last = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def at(raw: Any, dotted: str) -> Any:
    """The value of a dotted key in a config's dict form (None where it is absent)."""
    for part in dotted.split("."):
        raw = raw.get(part) if isinstance(raw, dict) else None
    return raw


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
    """The keys accepted by the table that holds `loc`'s last key."""
    annotation: Any = model
    value = raw
    for item in loc[:-1]:
        if isinstance(item, int):
            annotation = _element(annotation)
            value = value[item] if isinstance(value, list) and item < len(value) else None
            continue
        if isinstance(value, dict) and item not in value and value.get("kind") == item:
            continue  # discriminated-union tag
        table = _table(annotation, value)
        if table is None or item not in table.model_fields:
            return []
        annotation = table.model_fields[item].annotation
        value = value.get(item) if isinstance(value, dict) else None
    table = _table(annotation, value)
    return list(table.model_fields) if table is not None else []


def _args(annotation: Any) -> tuple[Any, ...]:
    if hasattr(annotation, "__metadata__"):  # Annotated[X, ...]
        return (annotation.__origin__,)
    return getattr(annotation, "__args__", ())


def _element(annotation: Any) -> Any:
    """X of list[X] (also inside `| None`)."""
    if getattr(annotation, "__origin__", None) is list:
        return annotation.__args__[0]
    for arg in _args(annotation):
        found = _element(arg)
        if found is not None:
            return found
    return None


def _table(annotation: Any, value: Any) -> type[BaseModel] | None:
    """The model class `value` is validated with: for a union, the one whose `kind` fits."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        kind = annotation.model_fields.get("kind")
        if kind is None or not isinstance(value, dict) or value.get("kind") in _args(
                kind.annotation):
            return annotation
        return None
    for arg in _args(annotation):
        found = _table(arg, value)
        if found is not None:
            return found
    return None


def describe_errors(source: str, exc: ValidationError, model: type[BaseModel],
                    raw: Any, flags: dict[str, str] | None = None) -> str:
    """One line per error: where (the file and key, or the command-line flag that set
    the key), and what was expected."""
    flags = flags or {}
    lines = []
    for e in exc.errors():
        path = _path(e["loc"], raw)
        where = flags.get(path) or f"{source}: {path}"
        if e["type"] == "value_error":
            # Our validators name the exact key themselves, below the table they check.
            msg = e["msg"].removeprefix("Value error, ")
            key = msg.partition(":")[0]
            if key in flags:
                lines.append(f"{flags[key]}{msg[len(key):]}")
            else:
                here = path if e["loc"] else ""
                lines.append(f"{source}: {msg}" if msg.startswith(here) else f"{where}: {msg}")
            continue
        if e["type"] == "extra_forbidden":
            allowed = _allowed(model, e["loc"], raw)
            hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
            lines.append(f"{where}: unknown key{hint}")
        elif e["type"] == "missing":
            lines.append(f"{where}: required key is missing")
        elif e["type"] == "union_tag_invalid":
            ctx = e["ctx"]
            key = ctx["discriminator"].strip("'")
            lines.append(f"{where}.{key}: unknown value {ctx['tag']!r}; expected one of: "
                         f"{ctx['expected_tags']}")
        else:
            lines.append(f"{where}: {e['msg']} (got {e['input']!r})")
    return "\n".join(lines)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what}: {e.strerror}") from None


def read_toml(path: Path, what: str = "config") -> dict[str, Any]:
    try:
        return tomllib.loads(_read(path, what).decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def read_json(path: Path, what: str) -> Any:
    try:
        return orjson.loads(_read(path, what))
    except orjson.JSONDecodeError as e:
        raise ConfigError(f"{path}: not JSON: {e}") from None


def load(model: type[BaseModel], path: Path, overrides: dict[str, Any] | None = None,
         flags: dict[str, str] | None = None, context: dict[str, Any] | None = None) -> Any:
    """Read, apply command-line overrides (dotted keys), validate. `flags` names the
    flag behind each override, so that a bad value is blamed on the flag. Paths in the
    config are relative to its folder (`base` in the validators' context)."""
    return validate(model, read_toml(path), str(path), overrides, flags,
                    {**(context or {}), "base": path.parent.resolve()})


def validate(model: type[BaseModel], raw: dict[str, Any], source: str,
             overrides: dict[str, Any] | None = None,
             flags: dict[str, str] | None = None, context: dict[str, Any] | None = None) -> Any:
    given = {}
    for key, value in (overrides or {}).items():
        if value is not None:
            _set(raw, key, value)
            if key in (flags or {}):
                given[key] = flags[key]
    try:
        return model.model_validate(raw, context=context or {})
    except ValidationError as e:
        raise ConfigError(describe_errors(source, e, model, raw, given)) from None
