"""A sweep from Python (scripts, notebooks, tests): the one way a sweep is run; the
CLI's `run` is a front end to `sweep`."""

from __future__ import annotations

import copy
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager

from stress import config as configs
from stress import sweep as sweep_mod
from stress.target import Target, model_label

# progress(total, already done) -> a context giving the callback of each finished seed
# (stress.progress.Reporter is one).
Progress = Callable[[int, int], ContextManager[Callable[[dict[str, Any]], None]]]


@dataclass
class Summary:
    """A sweep's result: its folder and the content of its summary.json."""

    out: Path
    data: dict[str, Any]
    interrupted: bool
    prog: str

    @property
    def failures(self) -> list[dict[str, Any]]:
        """One per failing seed, in seed order: kind, check, site, step, actor, message,
        seed, and the `artifact` and `log` files it left."""
        return self.data["failures"]

    @property
    def clean(self) -> bool:
        """No failure, every seed run, none lost to the harness."""
        return not (self.failures or self.data["harness_errors"] or self.interrupted)

    def exit_code(self, fail_on_step_bound: bool = False) -> int:
        """The CLI's: 130 interrupted, 3 the harness lost seeds, 1 failures, else 0."""
        if self.interrupted:
            return 130
        if self.data["harness_errors"]:
            return 3
        livelock = fail_on_step_bound and self.data["hit_step_bound"]
        return 1 if self.failures or livelock else 0

    def replay_command(self, failure: dict[str, Any] | None = None) -> str | None:
        """The command that re-runs a failure (default: the first) exactly."""
        failure = failure or (self.failures[0] if self.failures else {})
        return f"{self.prog} replay {failure['artifact']}" if "artifact" in failure else None

    def report(self) -> str:
        """What failed, in a few lines: the first failure's checker, step and violation,
        its files and the replay command; the harness's errors."""
        lines = [f"{model_label(self.data)}: {self.data['seeds_run']} seeds, "
                 f"{len(self.failures)} failing; summary: {self.out / 'summary.json'}"]
        if self.failures:
            f = self.failures[0]
            what = f"checker {f['check']}" if f.get("check") else str(f["kind"])
            where = f" at {f['site']}" if f.get("site") else ""
            lines.append(f"first failure: seed {f['seed']}, step {f.get('step')} (actor "
                         f"{f.get('actor') or 'none'}): {what}{where}: {f.get('message', '')}")
            kinds = ", ".join(" ".join(str(k[key]) for key in ("check", "site") if k[key])
                              + f" x{k['count']}" if k["check"] else f"{k['kind']} x{k['count']}"
                              for k in self.data["failure_kinds"])
            lines.append(f"failure kinds: {kinds}")
            for key in ("artifact", "log"):
                if key in f:
                    lines.append(f"{key}: {f[key]}")
            command = self.replay_command(f)
            if command:
                lines.append(f"reproduce: {command}")
        for e in self.data["harness_errors"]:
            lines.append(f"harness error, seeds {e['seeds'][0]}..{e['seeds'][1]}: "
                         f"{e['error'].rstrip()}")
        if self.interrupted:
            lines.append("interrupted")
        return "\n".join(lines)


def as_config(target: Target, config: Any, overrides: dict[str, Any] | None = None,
              context: dict[str, Any] | None = None, flags: dict[str, str] | None = None
              ) -> Any:
    """A config from a TOML file's path, a dict of the same tables (paths in it relative
    to the current folder) or the config model itself; `overrides` are dotted keys (a
    bad one blamed on its entry in `flags`), `context` goes to the validators."""
    if isinstance(config, target.config_model):
        if not any(v is not None for v in (overrides or {}).values()):
            return config
        config = config.model_dump(mode="json")
    if isinstance(config, dict):
        return configs.validate(target.config_model, copy.deepcopy(config), "config",
                                overrides, flags, {**(context or {}), "base": Path.cwd()})
    return configs.load(target.config_model, Path(config), overrides, flags, context)


def seed_range(config: Any, seeds: int | range | None) -> range:
    """None: the config's seeds; N: N seeds from its run.seed_start; or a range."""
    start = config.run.seed_start
    if seeds is None:
        return range(start, start + config.run.seeds)
    if isinstance(seeds, int):
        if seeds < 1:
            raise configs.ConfigError(f"seeds: expected a positive number, got {seeds}")
        return range(start, start + seeds)
    if not isinstance(seeds, range) or seeds.step != 1 or not len(seeds) or seeds.start < 0:
        raise configs.ConfigError(f"seeds: expected a positive number or a non-empty range "
                                  f"of seeds with step 1, got {seeds!r}")
    return seeds


def default_out(target: Target, config: Any, seeds: range, name: str = "sweep") -> Path:
    """runs/<name>-<version>[+<patch>]-<strategy>-<first seed>-<count>"""
    model = target.describe(config)
    version = model["version"] + (f"+{patch_name(model)}" if model.get("plugin") else "")
    return Path("runs") / f"{name}-{version}-{config.run.strategy}-{seeds.start}-{len(seeds)}"


def patch_name(model: dict[str, Any]) -> str:
    """`v6_nested.V6` for `v6_nested.py:V6`: a folder name, one per class."""
    file, _, cls = model["plugin"].partition(":")
    return f"{Path(file).stem}.{cls}"


def sweep(target: Target, config: Any, seeds: int | range | None = None,
          out: Path | str | None = None, *, log: str = "fail", workers: int | None = None,
          stop_after: int | None = None, check_determinism: bool = False,
          dask: str | None = None, progress: Progress | None = None,
          command: str | None = None) -> Summary:
    """Run `seeds` of `config` (a path, a dict or the config model) into the folder
    `out` (default: runs/...), or finish the sweep already there; bad input raises
    ConfigError before anything is written. `workers`: processes (0: all cores;
    default: run.workers); `log`: fail | all | none; `command`: what started it, kept
    in sweep.json for `report`."""
    config = as_config(target, config)
    seeds = seed_range(config, seeds)
    if log not in ("fail", "all", "none"):
        raise configs.ConfigError(f"log: expected fail, all or none, got {log!r}")
    if dask is not None:
        sweep_mod.dask_client(dask).close()  # unreachable: refused before any write
    out = Path(out) if out is not None else default_out(target, config, seeds)
    sweep_mod.claim(out, config, seeds, log, target.describe(config), command)
    run = sweep_mod.Sweep(target, config, out, log=log, check_determinism=check_determinism,
                          workers=config.run.workers if workers is None else workers,
                          stop_after=stop_after, dask=dask)
    with (progress(len(seeds), len(run.finished())) if progress else nullcontext()) as report:
        run.run(seeds, report)
    return Summary(out=out, data=run.summary(), interrupted=run.interrupted, prog=target.prog)
