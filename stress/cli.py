"""The command line, for any target: run, replay, versions."""

from __future__ import annotations

import argparse
import copy
import os
import re
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Column, Table

import orjson

from stress import api, artifact, checkpatch, config as configs, html, inspect, lanes, \
    logfile, perfetto, report, shrink
from stress import explore as explore_mod
from stress import zoo as zoo_mod
from stress import compare as compare_mod
from stress import coverage as coverage_mod
from stress.config import ConfigError
from stress.junit import junit
from stress.log import trace_hash, write_atomic
from stress.run import Result, run_seed
from stress import sweep as sweep_mod
from stress.progress import Reporter
from stress.target import Target, model_label
from stress.text import counted


def _parser(target: Target) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=target.prog, description="Seeded concurrency stress "
                                "of the IOMMU core around PCI device reset, in a model.")
    p.add_argument("--version", action="version",
                   version=f"%(prog)s {artifact.harness_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="a stress sweep from a TOML config")
    run.add_argument("config", nargs="?", type=Path,
                     help="TOML config (default: configs/default.toml)")
    run.add_argument("--seeds", type=int, help="how many seeds (default: run.seeds)")
    run.add_argument("--seed-start", type=int, help="first seed (default: run.seed_start)")
    run.add_argument("--seed", type=int, help="run this one seed")
    run.add_argument("--version", metavar="VERSION",
                     help=f"model version (see `versions`; `{target.prog} --version` is the "
                          "tool's own)")
    _plugin_arg(run, "the patch to run: the model version defaults to the one it patches")
    run.add_argument("--strategy", choices=("portfolio", "random", "pct", "pos", "surw"),
                     help="scheduling strategy (default: run.strategy)")
    run.add_argument("--pct-depth", type=int, help="bug depth for pct (default: run.pct_depth)")
    run.add_argument("--check-determinism", action="store_true",
                     help="run every seed twice and fail a seed whose traces differ")
    run.add_argument("--workers", type=int, help="worker processes (0: all cores; default: "
                     "run.workers)")
    run.add_argument("--stop-after", type=int, metavar="K", help="stop after K failing seeds")
    run.add_argument("--fail-on-step-bound", action="store_true", default=None,
                     help="a seed at the step bound makes the sweep exit 1 (default: "
                     "run.fail_on_step_bound)")
    run.add_argument("--resume", type=Path, metavar="DIR",
                     help="finish an interrupted sweep in DIR (its config and seeds)")
    run.add_argument("--dask", metavar="ADDRESS",
                     help="run the seeds on this Dask distributed scheduler ([dask] extra)")
    run.add_argument("--out", type=Path, help="output folder (default: runs/<run id>)")
    run.add_argument("--junit", type=Path, metavar="FILE",
                     help="also write the results as JUnit XML (a test case per failure "
                     "group, one for the clean seeds)")
    run.add_argument("--log", choices=("fail", "all", "none"),
                     help="which seeds' logs to write (default: fail)")

    replay = sub.add_parser("replay", help="re-run a failure artifact exactly")
    replay.add_argument("artifact", type=Path)
    replay.add_argument("--log", type=Path, dest="log_out",
                        help="where to write the replayed log (default: next to the artifact)")
    replay.add_argument("--version", metavar="VERSION", help="run the recorded interleaving "
                        "on this model version instead: does it pass there?")
    _plugin_arg(replay, "run the recorded interleaving on this patch instead: does it pass?")

    ins = sub.add_parser("inspect", help="filter and show a log, as a table, a timeline, "
                         "an HTML swimlane page or a Perfetto trace")
    ins.add_argument("log", type=Path)
    ins.add_argument("--gdev", help="events of this device (or that reached it)")
    ins.add_argument("--actor", help="events of this actor")
    ins.add_argument("--event", help="event names matching this glob, e.g. 'iommu.*'")
    ins.add_argument("--steps", type=_step_range, help="steps A:B (inclusive)")
    ins.add_argument("--around", type=int, metavar="STEP", help="steps near STEP")
    ins.add_argument("--context", type=int, default=5, help="how near, for --around")
    ins.add_argument("--failure", action="store_true",
                     help="the violation and the events that led to it")
    ins.add_argument("--timeline", action="store_true",
                     help="one lane per actor, device reset windows and counters")
    ins.add_argument("--format", choices=("table", "text", "json"),
                     help="table (the default on a terminal), text (one line per event, "
                     "the default in a pipe) or json (one object per line)")
    ins.add_argument("--width", type=int, metavar="COLUMNS",
                     help="lay out for this many columns (default: the terminal's)")
    ins.add_argument("--html", type=Path, metavar="FILE", help="write a swimlane page")
    ins.add_argument("--perfetto", type=Path, metavar="FILE",
                     help="write Chrome trace-event JSON (ui.perfetto.dev)")

    exp = sub.add_parser("explore", help="every schedule of one seed of a small config within "
                         "a preemption or delay bound, with a partial-order reduction: a "
                         "proof that it is clean within the bound, or its first failing "
                         "schedule")
    exp.add_argument("config", type=Path, help="TOML config (a small one: configs/explore/)")
    bound = exp.add_mutually_exclusive_group(required=True)
    bound.add_argument("--preemptions", type=int, metavar="K",
                       help="every schedule with at most K preemptions")
    bound.add_argument("--delays", type=int, metavar="K",
                       help="every schedule with at most K delays (delay bounding)")
    exp.add_argument("--seed", type=int, help="the seed: it fixes the data and fault "
                     "choices (default: run.seed_start)")
    exp.add_argument("--version", metavar="VERSION", help="model version")
    _plugin_arg(exp, "explore this patch: the model version defaults to the one it patches")
    exp.add_argument("--no-reduction", action="store_true",
                     help="run every schedule within the bound, reorderings of independent "
                     "steps too (to compare)")
    exp.add_argument("--out", type=Path, help="where a failing schedule is saved (default: "
                     "runs/explore-<config>-<version>-<bound><K>-<seed>)")

    shr = sub.add_parser("shrink", help="minimise a failure: fewer actors, operations, "
                         "preemptions and steps; writes <seed>.min.json")
    shr.add_argument("artifact", type=Path)
    shr.add_argument("--budget", type=int, default=400, help="at most this many runs")
    _plugin_arg(shr, "the recorded patch, from another place (its source must be the same)")

    check = sub.add_parser("check", help="run the invariant checkers over a saved log")
    check.add_argument("log", type=Path)

    zoo = sub.add_parser("zoo", help="run every known bug's scenario on every version and "
                         "compare with where it must be found")
    zoo.add_argument("--seeds", type=int, default=300, help="seed budget per cell")
    zoo.add_argument("--bugs", help="only these bugs, e.g. B1,B7")
    zoo.add_argument("--versions", help="only these versions, e.g. v0,vf")
    zoo.add_argument("--workers", type=int, default=0, help="processes (0: all cores)")
    zoo.add_argument("--json", action="store_true", help="the matrix as JSON on stdout")
    zoo.add_argument("--file", type=Path, help="another zoo table (default: the shipped one)")
    _plugin_arg(zoo, "also run every scenario on this patch (on the version it patches): "
                "which known bugs does it have?")

    cp = sub.add_parser("check-patch", help="a patch against every shipped config and the "
                        "zoo, next to the version it patches: what does it add?")
    cp.add_argument("plugin", metavar="FILE.py:Class", type=_from_cwd,
                    help='the patch: "FILE.py:Class" or "module:Class"')
    cp.add_argument("configs", nargs="*", type=Path,
                    help="configs to sweep (default: every shipped one)")
    cp.add_argument("--seeds", type=int, help="seeds per config (default: its run.seeds)")
    cp.add_argument("--zoo-seeds", type=int, default=300, help="seed budget per zoo cell")
    cp.add_argument("--workers", type=int, default=0, help="processes (0: all cores)")
    cp.add_argument("--out", type=Path, help="output folder (default: runs/check-patch-<file>)")
    cp.add_argument("--json", action="store_true", help="the verdict as JSON on stdout")

    cov = sub.add_parser("coverage", help="which config exercises which branch: the "
                         "coverage counters of every shipped config (or those given)")
    cov.add_argument("configs", nargs="*", type=Path,
                     help="configs (default: every shipped one)")
    cov.add_argument("--version", metavar="VERSION", help="model version (default: each "
                     "config's)")
    _plugin_arg(cov, "count on this patch")
    cov.add_argument("--seeds", type=int, help="seeds per config (default: its run.seeds)")
    cov.add_argument("--workers", type=int, default=0, help="processes (0: all cores)")
    cov.add_argument("--json", action="store_true", help="the matrix as JSON on stdout")

    cmp = sub.add_parser("compare", help="what changed from sweep A to sweep B (e.g. "
                         "mainline and a patch): failure kinds, coverage, steps, time")
    cmp.add_argument("a", type=Path, metavar="A", help="the base sweep's folder (run --out)")
    cmp.add_argument("b", type=Path, metavar="B", help="the sweep to judge against it")
    cmp.add_argument("--json", action="store_true", help="the comparison as JSON on stdout")

    rep = sub.add_parser("report", help="one self-contained HTML page for a sweep folder")
    rep.add_argument("dir", type=Path, metavar="DIR", help="the sweep's folder (run --out)")
    rep.add_argument("--out", type=Path, metavar="FILE",
                     help="where to write it (default: DIR/report.html)")

    sub.add_parser("versions", help="list the model versions and fix switches")
    return p


def _plugin_arg(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--plugin", metavar="FILE.py:Class", type=_from_cwd,
                        help=f'{help} ("FILE.py:Class" or "module:Class")')


def _from_cwd(spec: str) -> str:
    """A file named on the command line is relative to the current directory (in a
    config, to the config's folder)."""
    module, sep, attr = spec.partition(":")
    if module.endswith(".py") or "/" in module:
        return f"{Path(module).expanduser().resolve()}{sep}{attr}"
    return spec


def main(target: Target, argv: list[str] | None = None) -> int:
    args = _parser(target).parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    console = Console(highlight=False, soft_wrap=True, markup=False)
    commands = {"run": _run, "replay": _replay, "check": _check, "shrink": _shrink,
                "zoo": _zoo, "inspect": _inspect, "versions": _versions,
                "compare": _compare, "check-patch": _check_patch, "coverage": _coverage,
                "explore": _explore, "report": _report}
    try:
        return commands[args.command](target, args, console)
    except ConfigError as e:
        print(f"{target.prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a sweep handles its own; the other commands just stop
        print(f"{target.prog}: interrupted", file=sys.stderr)
        return 130
    except Exception:  # the harness itself failed: never read as clean, nor as a finding
        traceback.print_exc()
        print(f"{target.prog}: internal error: the harness failed (exit 3); what was "
              "already finished is on disk", file=sys.stderr)
        return HARNESS_FAILED


HARNESS_FAILED = 3


def _config_path(target: Target, given: Path | None) -> Path:
    if given is not None:
        return given
    for candidate in (Path("configs/default.toml"), target.default_config):
        if candidate.is_file():
            return candidate
    raise ConfigError("no CONFIG given and no configs/default.toml here or in the install")


def _model_options(target: Target, args: argparse.Namespace
                   ) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """The overrides, their flags and the validation context of `--version` and
    `--plugin`: a patch given without a version runs on the version it patches."""
    version = getattr(args, "version", None)  # shrink has no --version
    overrides = {target.version_key: version, target.plugin_key: args.plugin}
    flags = {target.version_key: "--version", target.plugin_key: "--plugin"}
    context = {"version_follows_plugin": args.plugin is not None and version is None}
    return overrides, flags, context


# The flag behind each config key the command line sets, to blame a bad value on it.
RUN_FLAGS = {"run.seeds": "--seeds", "run.seed_start": "--seed-start",
             "run.strategy": "--strategy", "run.pct_depth": "--pct-depth",
             "run.workers": "--workers"}


def _run(target: Target, args: argparse.Namespace, console: Console) -> int:
    if args.stop_after is not None and args.stop_after < 1:
        raise ConfigError(f"--stop-after: expected a positive number, got {args.stop_after}")
    if args.workers is not None and args.workers < 0:
        raise ConfigError(f"--workers: expected 0 (all cores) or more, got {args.workers}")
    if args.seed is not None and (args.seeds is not None or args.seed_start is not None):
        raise ConfigError("--seed runs one seed: it cannot be given with --seeds or "
                          "--seed-start")
    if args.resume is not None:
        out = args.resume
        config, seeds, log = sweep_mod.resumable(target, out)
        _same_as_recorded(target, args, out, config, seeds, log)
        source = f"resuming {out}"
    else:
        path = _config_path(target, args.config)
        count, start = args.seeds, args.seed_start
        flags = dict(RUN_FLAGS)
        if args.seed is not None:
            count, start = 1, args.seed
            flags["run.seed_start"] = "--seed"
        overrides = {"run.seeds": count, "run.seed_start": start, "run.strategy": args.strategy,
                     "run.pct_depth": args.pct_depth, "run.workers": args.workers,
                     "run.fail_on_step_bound": args.fail_on_step_bound}
        model, model_flags, context = _model_options(target, args)
        config = configs.load(target.config_model, path, overrides | model,
                              flags | model_flags, context)
        seeds = api.seed_range(config, None)
        out = args.out or api.default_out(target, config, seeds, path.stem)
        log = args.log or "fail"
        source = str(path)
    workers = args.workers if args.workers is not None else config.run.workers

    def reporter(total: int, already: int) -> Reporter:
        console.print(f"{target.prog}: {source} on {model_label(target.describe(config))}, "
                      f"seeds {seeds.start}..{seeds.stop - 1}, strategy "
                      f"{config.run.strategy} -> {out}")
        if already:
            console.print(f"{counted(already, 'seed')} already done in {out}: running the rest")
        return Reporter(console, total, already)

    _more_than_cores(console, workers)
    summary = api.sweep(target, config, seeds, out, log=log, workers=workers,
                        stop_after=args.stop_after, check_determinism=args.check_determinism,
                        dask=args.dask, progress=reporter,
                        command=f"{target.prog} {shlex.join(args.argv)}")
    _print_summary(console, summary.data, out)
    if args.junit is not None:
        write_atomic(args.junit, junit(summary.data, f"{target.prog} {out}", bool(
            args.fail_on_step_bound or config.run.fail_on_step_bound)))
        console.print(f"junit: {args.junit}")
    if summary.interrupted:
        console.print(f"interrupted: {counted(summary.data['seeds_run'], 'finished seed')} "
                      f"kept; finish with {target.prog} run --resume {out}")
    return summary.exit_code(bool(args.fail_on_step_bound or config.run.fail_on_step_bound))


def _more_than_cores(console: Console, workers: int) -> None:
    """Allowed (a worker may wait on I/O), but said: beyond the cores they only share."""
    cores = os.cpu_count() or 1
    if workers > cores:
        console.print(f"note: {workers} workers on {cores} cores: the extra ones only share "
                      "the cores", style="yellow")


def _same_as_recorded(target: Target, args: argparse.Namespace, out: Path, config: Any,
                      seeds: range, log: str) -> None:
    """`--resume DIR` runs the sweep recorded in DIR: an option that would change that
    sweep is refused, naming it; options about how to run it (--workers, --stop-after,
    --dask, --check-determinism) apply."""
    recorded = {"--seeds": len(seeds), "--seed-start": seeds.start,
                "--strategy": config.run.strategy, "--pct-depth": config.run.pct_depth,
                "--version": target.describe(config)["version"], "--log": log,
                "--out": out, "--plugin": configs.at(config.model_dump(), target.plugin_key)}
    given = {"--seeds": args.seeds, "--seed-start": args.seed_start,
             "--strategy": args.strategy, "--pct-depth": args.pct_depth,
             "--version": args.version, "--log": args.log, "--out": args.out,
             "--plugin": args.plugin}
    if args.seed is not None:
        given["--seeds"], given["--seed-start"] = 1, args.seed
    if given["--out"] is not None and given["--out"].resolve() == out.resolve():
        given["--out"] = None  # the same folder, spelled another way
    clashes = [f"{flag} {given[flag]} (recorded: {recorded[flag]})" for flag in given
               if given[flag] is not None and given[flag] != recorded[flag]]
    if args.config is not None:
        clashes.insert(0, f"CONFIG {args.config} (the recorded config is in "
                          f"{out / 'sweep.json'})")
    if clashes:
        raise ConfigError(f"--resume {out}: runs the sweep recorded there; these options "
                          f"would change it: {'; '.join(clashes)}. Drop them, or start a new "
                          "sweep with another --out")


def _print_summary(console: Console, s: dict[str, Any], out: Path) -> None:
    for e in s["harness_errors"]:
        a, b = e["seeds"]
        seeds = f"seed {a}" if a == b else f"seeds {a}..{b}"
        what = "lost" if e["lost"] else "finished, but"
        console.print(f"harness error: {seeds} {what}: {e['error'].rstrip()}",
                      style="bold red")
    steps = s["steps"]
    if steps is None:
        console.print("no seed finished" + (": the harness failed (exit 3)"
                                            if s["harness_errors"] else ""))
        console.print(f"summary: {out / 'summary.json'}")
        return
    speed = (f"; {s['schedules_per_second']} seeds/s" if s["schedules_per_second"]
             else "")
    console.print(f"{counted(s['seeds_run'], 'seed')}, {len(s['failures'])} failing, "
                  f"{s['hit_step_bound']} at the step bound ({s['step_bound_share']:.1%}); "
                  f"steps min/median/max {steps['min']}/{steps['median']}/{steps['max']}"
                  + speed)
    if s["stopped_early"]:
        console.print(f"stopped early: {s['stopped_early']}")
    for warning in s["warnings"]:
        console.print(f"warning: {warning}", style="yellow")
    if s["seeds_lost"]:
        console.print(f"{counted(s['seeds_lost'], 'seed')} lost to harness errors: the sweep is "
                      f"incomplete (exit 3); --resume {out} runs them again", style="bold red")
    if s["failure_kinds"]:
        table = Table("kind", "check", "site", "first seed", "count", box=box.SIMPLE_HEAD,
                      pad_edge=False)
        for f in s["failure_kinds"]:
            table.add_row(f["kind"], f["check"] or "", f["site"] or "", str(f["first_seed"]),
                          str(f["count"]))
        console.print(table)
        first = s["failures"][0]
        if "artifact" in first:
            console.print(f"reproduce: iommu-stress replay {first['artifact']}")
    if s["step_bound_seeds"]:
        seeds = [b["seed"] for b in s["step_bound_seeds"]]
        more = f" and {len(seeds) - 8} more" if len(seeds) > 8 else ""
        console.print(f"at the step bound: seeds {', '.join(map(str, seeds[:8]))}{more}"
                      + (f"; see where each actor was: iommu-stress inspect "
                         f"{s['step_bound_seeds'][0]['log']} --failure"
                         if "log" in s["step_bound_seeds"][0] else ""))
    zero = [k for k, n in s["coverage"].items() if n == 0]
    console.print("coverage: " + ", ".join(f"{k}={n}" for k, n in s["coverage"].items()))
    if zero:
        console.print(f"never reached: {', '.join(zero)}: this sweep proved nothing about "
                      "those branches", style="yellow")
    console.print(f"summary: {out / 'summary.json'}")


def _artifact_config(target: Target, args: argparse.Namespace, art: dict[str, Any]) -> Any:
    """The artifact's config, with `--version` and `--plugin` applied."""
    model, flags, context = _model_options(target, args)
    return configs.validate(target.config_model, copy.deepcopy(art["config"]),
                            f"{args.artifact}: config", model, flags, context)


def _other_model(target: Target, args: argparse.Namespace, art: dict[str, Any],
                 config: Any) -> str | None:
    """Why this replay runs another model than the recorded one (None: the same)."""
    was, now = art.get("model") or {}, target.describe(config)
    if getattr(args, "version", None) is not None or args.plugin is not None:
        if now != was:
            return f"on {model_label(now)} instead of the recorded {model_label(was)}"
    elif now.get("plugin") and {**now, "plugin_sha256": None} == {**was, "plugin_sha256": None} \
            and now.get("plugin_sha256") != was.get("plugin_sha256"):
        return (f"on {model_label(now)}: the patch {now['plugin']} changed since the "
                f"failure was recorded (sha {str(was.get('plugin_sha256'))[:8]})")
    return None


def _replay(target: Target, args: argparse.Namespace, console: Console) -> int:
    art = artifact.load(args.artifact)
    config = _artifact_config(target, args, art)
    if art.get("harness_version") not in (None, artifact.harness_version()):
        console.print(f"note: recorded with harness {art['harness_version']}, "
                      f"running {artifact.harness_version()}")
    log_path = args.log_out or args.artifact.with_suffix(".replay.jsonl")
    other = _other_model(target, args, art, config)
    if other is not None:
        return _replay_elsewhere(target, config, art, other, log_path, console)
    result: Result = run_seed(target, config, art["seed"], keep_log=True, replay=art)
    data = result.log_bytes()
    write_atomic(log_path, data)
    if result.outcome == "diverged" or result.steps != len(art["decisions"]):
        if result.outcome == "diverged":
            console.print(f"diverged at step {result.failure['step']}: "
                          f"{result.failure['message']}")
        else:
            console.print(f"diverged at step {result.steps + 1}: the run ended after "
                          f"{result.steps} steps, {len(art['decisions'])} were recorded")
        console.print(_still_fails(target, config, art))
        console.print(f"log: {log_path}")
        return 1
    trace = trace_hash(data)
    if trace != art["trace_hash"]:
        console.print(f"not reproduced: the trace differs (hash {trace}, recorded "
                      f"{art['trace_hash']}) although every decision matched; log: {log_path}")
        return 1
    replayed = {"outcome": result.outcome, "failure": result.failure, "steps": result.steps,
                "actors": result.actors, "swarm": result.swarm, "timing": result.timing,
                "model": target.describe(config)}
    edited = [key for key, value in replayed.items() if key in art and art[key] != value]
    for key in edited:
        console.print(f"edited: the artifact's {key} is {_short(art[key])}, the replay gives "
                      f"{_short(replayed[key])}")
    if edited:
        console.print(f"not reproduced as recorded: the run is the recorded one (trace "
                      f"{trace}), but the artifact's {', '.join(edited)} "
                      f"{'was' if len(edited) == 1 else 'were'} edited; log: {log_path}")
        return 1
    console.print(f"reproduced exactly: seed {art['seed']}, " + describe(result.outcome,
                                                                          result.failure))
    for line in inspect.failure_report(result.failure or {}):
        console.print(line)
    console.print(f"trace {trace}; log: {log_path}")
    return 0


def _replay_elsewhere(target: Target, config: Any, art: dict[str, Any], why: str,
                      log_path: Path, console: Console) -> int:
    """Does another model (a fix, a version) pass the recorded interleaving? The seed
    follows the recorded schedule as far as it applies; the output says where it stopped
    applying. 0: the run passes; 1: it fails (the recorded failure or another)."""
    guide = shrink.recorded(art)
    result = shrink.follow(target, config, art, keep_log=True)
    write_atomic(log_path, result.log_bytes())
    console.print(f"replaying seed {art['seed']} {why}")
    off = [step for step in shrink.departures(result, guide) if step <= len(guide)]
    ran = min(result.steps, len(guide))
    if not off:
        text = f"the run followed the recorded schedule at all of its first {ran} steps"
    else:
        text = (f"the run followed the recorded schedule up to step {off[0] - 1}; at step "
                f"{off[0]} the recorded actor {guide[off[0] - 1]} could not run; after that "
                f"it followed the recording where it could ({len(off)} of {ran} steps "
                "differ)")
    if result.steps > len(guide):
        text += (f", then went on for {result.steps - len(guide)} steps past the end of "
                 "the recording (the actor that ran last goes on while it can)")
    console.print(text)
    recorded = describe(art["outcome"], art.get("failure"))
    if not result.failed:
        console.print(f"passes: the run ends {result.outcome} after {result.steps} steps; "
                      f"recorded: {recorded}")
    elif shrink.fails_as(result, art):
        console.print(f"the recorded failure still happens: "
                      f"{describe(result.outcome, result.failure)}")
    else:
        console.print(f"fails otherwise: {describe(result.outcome, result.failure)}; "
                      f"recorded: {recorded}")
    console.print(f"log: {log_path}")
    return 1 if result.failed else 0


def describe(outcome: str, failure: dict[str, Any] | None) -> str:
    """`fail check I12 at step 7: WARN in ...`, with no blank where a part is missing."""
    f = failure or {}
    parts = [outcome, f.get("kind"), f.get("check") or f.get("site")]
    text = " ".join(str(p) for p in parts if p)
    if f.get("step") is not None:
        text += f" at step {f['step']}"
    return text + (f": {f['message']}" if f.get("message") else "")


def _short(value: Any, width: int = 200) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= width else text[:width] + "..."


def _still_fails(target: Target, config: Any, art: dict[str, Any]) -> str:
    """After a divergence: does the recorded failure still happen when the seed follows
    the recorded schedule as far as it can?"""
    again = shrink.follow(target, config, art)
    if shrink.fails_as(again, art):
        return ("the recorded failure still happens when the seed follows the recorded "
                f"schedule where it can: {describe(again.outcome, again.failure)}")
    return ("the recorded failure does not happen when the seed follows the recorded "
            f"schedule where it can: that run ends {describe(again.outcome, again.failure)}")


def _step_range(text: str) -> tuple[int, int]:
    a, _, b = text.partition(":")
    try:
        return int(a or 0), int(b) if b else 10**12
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected A:B (step numbers), got {text!r}") from None


def _inspect(target: Target, args: argparse.Namespace, console: Console) -> int:
    events, problems, _ = logfile.load(args.log)
    if args.width is not None:
        console.width = args.width
    fmt = args.format or ("table" if console.is_terminal else "text")
    for problem in problems:
        console.print(problem, style="yellow")
    timeline = target.timeline(events)
    logged = events  # what the timeline was made from (--failure keeps part of it)
    if args.html is not None:
        write_atomic(args.html, html.page(events, timeline, f"{target.prog}: {args.log}")
                     .encode())
        console.print(f"wrote {args.html}")
    if args.perfetto is not None:
        write_atomic(args.perfetto, orjson.dumps(perfetto.trace(events, timeline)))
        console.print(f"wrote {args.perfetto} (open it in ui.perfetto.dev)")
    if args.failure:
        fail, led = inspect.failure_context(events)
        if fail is None:
            if fmt != "json":
                console.print(f"{args.log}: no failure in this log")
            return 0
        if fmt != "json":
            console.print(inspect.title(fail), style="bold red")
            for line in inspect.failure_report(fail):
                console.print(line)
        events = led
    chosen = inspect.select(events, gdev=args.gdev, actor=args.actor, event=args.event,
                            steps=args.steps, around=args.around, context=args.context)
    if not chosen and fmt != "json":
        console.print(inspect.unmatched(events, gdev=args.gdev, actor=args.actor,
                                        event=args.event) or "no event passes these filters")
    if args.timeline:
        kept = lanes.lanes(chosen, timeline, actor=args.actor, gdev=args.gdev)
        rows = inspect.timeline_rows(logged, chosen, timeline, kept, args.steps)
        if fmt == "json":
            _json_lines(rows)
            return 0
        for t in inspect.timeline_tables(rows, kept, console.width):
            console.print(t)
        console.print(inspect.legend(timeline))
    elif args.html is None and args.perfetto is None or args.failure:
        if fmt == "json":
            _json_lines({k: v for k, v in e.items() if k != "_line"} for e in chosen)
        elif fmt == "text":
            for e in chosen:
                console.print(inspect.line(e))
        else:
            console.print(inspect.table(chosen))
    return 0


def _explore(target: Target, args: argparse.Namespace, console: Console) -> int:
    bound = "preemptions" if args.preemptions is not None else "delays"
    k = args.preemptions if args.preemptions is not None else args.delays
    if k < 0:
        raise ConfigError(f"--{bound}: expected 0 or more, got {k}")
    model, model_flags, context = _model_options(target, args)
    config = configs.load(target.config_model, args.config,
                          {"run.seed_start": args.seed} | model,
                          {"run.seed_start": "--seed"} | model_flags, context)
    seed = config.run.seed_start
    described = target.describe(config)
    version = described["version"] + (f"+{_patch_name(described)}"
                                      if described.get("plugin") else "")
    out = args.out or Path("runs") / f"explore-{args.config.stem}-{version}-{bound}{k}-{seed}"
    sweep_mod.usable(out)
    console.print(f"{target.prog}: explore {args.config} on {model_label(described)}, seed "
                  f"{seed}: every schedule within {counted(k, bound[:-1])}")
    started = time.monotonic()
    done = explore_mod.explore(target, config, seed, bound, k,
                               reduction=not args.no_reduction)
    seconds = time.monotonic() - started
    console.print(f"data and fault choices: seed {seed}'s, drawn in the order each schedule "
                  "reaches them; " + ("sleep-set reduction: reorderings of independent steps "
                                      "run once" if done.reduction else "no reduction"))
    cut = f", {done.pruned} runs cut as reorderings" if done.reduction else ""
    if done.failure is None:
        console.print(f"complete within bound {k}: {counted(done.schedules, 'schedule')}, "
                      f"0 failures ({done.runs} runs{cut}; {seconds:.1f} s)")
        return 0
    result = done.failure
    path = out / ("failures" if result.failed else "step_bound") / f"{seed}.json"
    again = run_seed(target, config, seed, keep_log=True, replay={
        "strategy": result.strategy, "schedule": "decisions", "decisions": result.decisions})
    data = again.log_bytes()
    art = artifact.make(again, config, described, trace_hash(data))
    art["schedule"] = "decisions"
    write_atomic(out / "logs" / f"{seed}.jsonl", data)
    artifact.save(path, art)
    console.print(f"schedule {done.failing_schedule} fails "
                  f"({counted(done.spent, bound[:-1])}): "
                  f"{describe(again.outcome, again.failure)}")
    console.print(f"stopped at the first failing schedule ({done.runs} runs{cut}; "
                  f"{seconds:.1f} s); log: {out / 'logs' / f'{seed}.jsonl'}")
    console.print(f"reproduce: {target.prog} replay {path}")
    return 1


def _json_lines(objects: Any) -> None:
    """One JSON object per line on stdout, as a log is."""
    out = sys.stdout.buffer
    try:
        for o in objects:
            out.write(orjson.dumps(o) + b"\n")
        out.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _shrink(target: Target, args: argparse.Namespace, console: Console) -> int:
    art = artifact.load(args.artifact)
    if args.plugin is not None:  # the recorded patch, found elsewhere
        config = _artifact_config(target, args, art)
        if _other_model(target, args, art, config) is not None:
            raise ConfigError(f"--plugin: {model_label(target.describe(config))} is not the "
                              f"recorded {model_label(art.get('model') or {})}; shrink with "
                              "the patch that failed (replay --plugin tries another)")
        art = {**art, "config": config.model_dump(mode="json")}
    done = shrink.shrink(target, art, str(args.artifact), budget=args.budget)
    if done is None:
        console.print(f"{args.artifact}: the failure does not reproduce; nothing to shrink")
        return 1
    shrunk, before, after = done
    path = args.artifact.with_name(f"{art['seed']}.min.json")
    artifact.save(path, shrunk)
    signature = " ".join(str(p) for p in shrink.signature(shrunk["failure"]) if p)
    console.print(f"same failure: {signature}" if after != before else
                  f"already minimal: nothing smaller fails with {signature}")
    for key in before:
        if key != "timing" or before[key]:  # durations: only a run that drew some
            console.print(f"  {key:<12} {before[key]:>6} -> {after[key]}")
    console.print(f"wrote {path} (replay it with {target.prog} replay {path})")
    return 0


def _zoo(target: Target, args: argparse.Namespace, console: Console) -> int:
    known = [v["name"] for v in target.versions()]
    path = args.file or target.zoo
    bugs = zoo_mod.load(path, known)
    if args.bugs:
        wanted = args.bugs.split(",")
        unknown = [b for b in wanted if b not in bugs]
        if unknown:
            raise ConfigError(f"--bugs: unknown {', '.join(unknown)}; expected some of: "
                              f"{', '.join(bugs)}")
        bugs = {b: bugs[b] for b in wanted}
    versions = args.versions.split(",") if args.versions else known
    bad = [v for v in versions if v not in known]
    if bad:
        raise ConfigError(f"--versions: unknown {', '.join(bad)}; expected some of: "
                          f"{', '.join(known)}")
    if args.seeds < 1:
        raise ConfigError(f"--seeds: expected a positive number, got {args.seeds}")
    columns = [zoo_mod.Column.version(target, v) for v in versions]
    patch = None
    if args.plugin is not None:
        patch = target.describe(_patched(target, args.plugin))
        if patch["version"] not in versions:  # the patch is judged against its base
            columns.append(zoo_mod.Column.version(target, patch["version"]))
            versions.append(patch["version"])
        columns.append(zoo_mod.Column.plugin(target, patch["plugin"], args.plugin))
        versions.append(patch["plugin"])
    _more_than_cores(console, args.workers)
    cells = zoo_mod.run(target, path, bugs, columns, args.seeds, args.workers)
    report = zoo_mod.report(cells)
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        table = Table("bug", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
        for v in versions:
            table.add_column(v, min_width=len(v))
        by = {(c.bug, c.version): c for c in cells}
        for bug in bugs:
            row = []
            for v in versions:
                c = by[(bug, v)]
                text = "x" if c.found else "."
                row.append(text if c.ok else f"!{text}")
            table.add_row(bug, *row)
        console.print(table)
        console.print("x found, . not found, ! differs from the expected table")
        partly = [c for c in cells if not c.found and c.seeds_judged < c.seeds_run]
        console.print("every cell not found was judged on all its seeds (runs go on after a "
                      "first violation)" if not partly else "cells not found on fewer "
                      "judged seeds: " + ", ".join(f"{c.bug} on {c.version} {c.seeds_judged}/"
                                                   f"{c.seeds_run}" for c in partly))
        found = [c for c in cells if c.found]
        if found:
            seconds = sorted(c.seconds for c in found)
            console.print(f"{counted(len(found), 'cell')} found their bug; median time to the "
                          f"first failure {seconds[len(seconds) // 2]:.3f}s, worst "
                          f"{seconds[-1]:.3f}s")
        if patch is not None:
            console.print(_patch_verdict(cells, patch))
        for line in report["mismatches"]:
            console.print(line, style="bold red")
        console.print("matches the expected table" if not report["mismatches"] else
                      f"{counted(len(report['mismatches']), 'cell')} "
                      f"{'differs' if len(report['mismatches']) == 1 else 'differ'} from "
                      "the expected table")
    return 1 if report["mismatches"] else 0


def _patched(target: Target, spec: str) -> Any:
    """The default config with a patch on the version it patches: checks the patch (a
    bad one is exit 2, blamed on --plugin) and says which version that is."""
    return configs.load(target.config_model, target.default_config, {target.plugin_key: spec},
                        {target.plugin_key: "--plugin"}, {"version_follows_plugin": True})


def _patch_verdict(cells: list[zoo_mod.Cell], patch: dict[str, Any]) -> str:
    mine = [c for c in cells if c.base is not None]
    has = [c.bug for c in mine if c.found]
    base = [c.bug for c in mine if c.base_found]
    fixes = [b for b in base if b not in has]
    brings = [c.bug for c in mine if c.found and not c.base_found and not c.limitation]
    unmasks = [c.bug for c in mine if c.found and not c.base_found and c.limitation]
    text = (f"{model_label(patch)} has {', '.join(has) or 'none of these bugs'}; "
            f"{patch['version']} has {', '.join(base) or 'none'}: the patch fixes "
            f"{', '.join(fixes) or 'none'} and brings in {', '.join(brings) or 'none'}")
    if unmasks:
        text += (f"; it makes {', '.join(unmasks)} reachable, known limitations of "
                 "mainline (not counted)")
    other = [f"{c.bug}'s scenario ({', '.join(f'{k} in {n} seeds' for k, n in c.other.items())})"
             for c in mine if c.other]
    if other:
        text += ("\nit also fails otherwise (not as a known bug; run the scenario with "
                 f"--plugin to see): {'; '.join(other)}")
    return text


def _check(target: Target, args: argparse.Namespace, console: Console) -> int:
    events, problems, skipped = logfile.load(args.log)
    for problem in problems:
        console.print(problem, style="yellow")
    start = next((e for e in events if e["event"] == "run.start"), None)
    if start is None:
        console.print(f"{args.log}: no run.start event: checking with the default [checks]")
    violations = logfile.check(target.checkers(start["checks"] if start else {}), events)
    for v in violations:
        more = f" (and {v['more']} more)" if v["more"] else ""
        console.print(f"step {v['step']} (line {v['line']}, {v['actor'] or 'no actor'}): "
                      f"[{v['check']}] {v['message']}{more}")
        for line in inspect.failure_report(v):
            console.print(line)
    n = len(violations)
    console.print(f"{len(events)} events checked, {n} {'finding' if n == 1 else 'findings'}"
                  + (f", {skipped} line{'s' * (skipped != 1)} skipped: "
                     "the check is incomplete" if skipped else ""))
    return 1 if violations or skipped else 0


def _compare(target: Target, args: argparse.Namespace, console: Console) -> int:
    """Exit 1 when B has a failure kind A has not: a patch must not add one."""
    report = compare_mod.compare(args.a, args.b, target.version_key)
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        compare_mod.render(report, console)
    return 1 if report["new_failure_kinds"] else 0


def _check_patch(target: Target, args: argparse.Namespace, console: Console) -> int:
    """Exit 1 on any finding the base version has not; 3 if the harness lost seeds."""
    for flag, value in (("--seeds", args.seeds), ("--zoo-seeds", args.zoo_seeds)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag}: expected a positive number, got {value}")
    if args.workers < 0:
        raise ConfigError(f"--workers: expected 0 (all cores) or more, got {args.workers}")
    paths = args.configs or sorted(target.default_config.parent.glob("*.toml"))
    models = [target.describe(checkpatch.patched(target, p, args.plugin, args.seeds))
              for p in paths]  # every config validated before anything runs
    model = models[0]
    out = args.out or Path("runs") / f"check-patch-{api.patch_name(model)}"
    console.print(f"{target.prog}: check-patch {model_label(model)} against "
                  f"{model['version']}: {counted(len(paths), 'config')} and the zoo -> {out}")

    def progress(row: dict[str, Any]) -> None:
        parts = [f"{side} {len(row[side]['failures'])}/{row[side]['seeds_run']} failing"
                 for side in ("base", "patch") if side in row]
        console.print(f"  {row['config']}: {', '.join(parts)}")

    _more_than_cores(console, args.workers)
    report = checkpatch.check(target, args.plugin, paths, out, args.seeds, args.zoo_seeds,
                              args.workers, progress)
    write_atomic(out / "check-patch.json", orjson.dumps(report, option=orjson.OPT_INDENT_2))
    if report["interrupted"]:
        console.print(f"interrupted: the finished seeds are kept in {out}")
        return 130
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        _print_check_patch(console, report, out)
    if report["harness_errors"]:
        return HARNESS_FAILED
    return 1 if report["new"] or report["zoo"]["brings_in"] else 0


def _kind_text(k: dict[str, Any]) -> str:
    """A failure kind by the known bugs it is and its checker (`B1/B2/B4 (I12)`), else by
    checker and site."""
    check = str(k.get("check") or k["kind"])
    name = " ".join(str(p) for p in (check, k.get("site")) if p)
    if k["bugs"]:
        name = "/".join(k["bugs"]) + ("" if k["bugs"] == [check] else f" ({check})")
    mark = {"new": " NEW", "known limitation": " (limitation)"}.get(k.get("status", ""), "")
    return f"{name} x{k['count']}{mark}"


def _print_check_patch(console: Console, report: dict[str, Any], out: Path) -> None:
    model, z = report["model"], report["zoo"]
    table = Table("config", f"{model['version']} (base)", model["plugin"],
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for row in report["rows"]:
        table.add_row(row["config"], ", ".join(map(_kind_text, row["base_kinds"])) or "clean",
                      ", ".join(map(_kind_text, row["patch_kinds"])) or "clean")
    console.print(table)
    for row in report["rows"]:
        lost = row["compare"]["coverage"]["lost"]
        if lost:
            console.print(f"note: {row['config']}: the patch's sweep never reached "
                          f"{', '.join(lost)}, which the base's did: its result says "
                          "nothing about those branches", style="yellow")
    console.print(f"zoo: the patch has {', '.join(z['patch']) or 'no known bug'}; "
                  f"{model['version']} has {', '.join(z['base']) or 'none'}")
    console.print(f"  fixes {', '.join(z['fixes']) or 'none'}; brings in "
                  f"{', '.join(z['brings_in']) or 'none'}; known limitations of mainline "
                  f"it has: {', '.join(z['limitations']) or 'none'}")
    limits = set(z["limitations"])
    own = sorted({"/".join(k["bugs"]) for row in report["rows"] for k in row["patch_kinds"]
                  if k["bugs"] and not set(k["bugs"]) <= limits},
                 key=lambda name: [int(n) if n.isdigit() else n
                                   for n in re.split(r"(\d+)", name)])
    if own:
        console.print(f"known bugs the patch has (its base too): {', '.join(own)}")
    for k in report["new"]:
        row = next(r for r in report["rows"] if r["config"] == k["config"])
        console.print(f"NEW in {k['config']}: {_kind_text({**k, 'status': None})}: first "
                      f"seed {k['first_seed']}; "
                      f"reproduce: iommu-stress replay {row['patch_folder']}/failures/"
                      f"{k['first_seed']}.json", style="bold red")
    n = len(report["new"]) + len(z["brings_in"])
    console.print(f"{n} finding{'s' * (n != 1)} that {model['version']} has not (exit 1)"
                  if n else f"no finding that {model['version']} has not")
    console.print(f"details: {out / 'check-patch.json'}; each sweep is a folder in {out}")


def _coverage(target: Target, args: argparse.Namespace, console: Console) -> int:
    """Exit 1 when a counter is reached by none of the configs: a hole."""
    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds: expected a positive number, got {args.seeds}")
    paths = args.configs or sorted(target.default_config.parent.glob("*.toml"))
    model, flags, context = _model_options(target, args)
    for path in paths:  # every config checked before anything runs
        configs.load(target.config_model, path, model, flags, context)
    _more_than_cores(console, args.workers)
    report = coverage_mod.matrix(target, paths, model, context, args.seeds, args.workers)
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        table = Table("counter", *(Path(c).stem for c in report["configs"]),
                      box=box.SIMPLE_HEAD, pad_edge=False)
        for key, row in report["counters"].items():
            table.add_row(key, *("-" if n is None else str(n) for n in row.values()))
        console.print(table)
        for key, meaning in target.counters().items():
            console.print(f"  {key}: {meaning}")
        if report["holes"]:
            console.print(f"reached by no config: {', '.join(report['holes'])}: no sweep of "
                          "these configs says anything about those branches", style="yellow")
        else:
            console.print("every counter is reached by some config")
    return 1 if report["holes"] else 0


def _report(target: Target, args: argparse.Namespace, console: Console) -> int:
    out = report.write(target, args.dir, args.out or args.dir / "report.html")
    console.print(f"wrote {out}")
    return 0


def _versions(target: Target, args: argparse.Namespace, console: Console) -> int:
    switches = target.switches()
    versions = target.versions()
    # The names whole, however narrow the terminal: the about column wraps instead.
    name = Column("version", no_wrap=True, min_width=max(len(v["name"]) for v in versions))
    table = Table(name, *(commit[:4] for commit in switches.values()), "about",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for v in versions:
        marks = ["x" if name in v["fixes"] else "." for name in switches]
        table.add_row(v["name"], *marks, v["about"])
    console.print(table)
    for name, commit in switches.items():
        console.print(f"  {commit[:4]}  {name:<26} {commit}")
    return 0
