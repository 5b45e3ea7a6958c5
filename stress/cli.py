"""The command line, for any target: run, replay, versions."""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

import orjson

from stress import artifact, config as configs, inspect, logfile, shrink
from stress import zoo as zoo_mod
from stress import compare as compare_mod
from stress.config import ConfigError
from stress.log import trace_hash, write_atomic
from stress.run import Result, run_seed
from stress import sweep as sweep_mod
from stress.progress import Reporter
from stress.sweep import Sweep
from stress.target import Target, model_label


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
    run.add_argument("--strategy", choices=("portfolio", "random", "pct"),
                     help="scheduling strategy (default: run.strategy)")
    run.add_argument("--pct-depth", type=int, help="bug depth for pct (default: run.pct_depth)")
    run.add_argument("--check-determinism", action="store_true",
                     help="run every seed twice and fail a seed whose traces differ")
    run.add_argument("--workers", type=int, help="worker processes (0: all cores; default: "
                     "run.workers)")
    run.add_argument("--stop-after", type=int, metavar="K", help="stop after K failing seeds")
    run.add_argument("--resume", type=Path, metavar="DIR",
                     help="finish an interrupted sweep in DIR (its config and seeds)")
    run.add_argument("--dask", metavar="ADDRESS",
                     help="run the seeds on this Dask distributed scheduler ([dask] extra)")
    run.add_argument("--out", type=Path, help="output folder (default: runs/<run id>)")
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
    ins.add_argument("--html", type=Path, metavar="FILE", help="write a swimlane page")
    ins.add_argument("--perfetto", type=Path, metavar="FILE",
                     help="write Chrome trace-event JSON (ui.perfetto.dev)")

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

    cmp = sub.add_parser("compare", help="what changed from sweep A to sweep B (e.g. "
                         "mainline and a patch): failure kinds, coverage, steps, time")
    cmp.add_argument("a", type=Path, metavar="A", help="the base sweep's folder (run --out)")
    cmp.add_argument("b", type=Path, metavar="B", help="the sweep to judge against it")
    cmp.add_argument("--json", action="store_true", help="the comparison as JSON on stdout")

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
    console = Console(highlight=False, soft_wrap=True, markup=False)
    commands = {"run": _run, "replay": _replay, "check": _check, "shrink": _shrink,
                "zoo": _zoo, "inspect": _inspect, "versions": _versions,
                "compare": _compare}
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
    overrides = {target.version_key: args.version, target.plugin_key: args.plugin}
    flags = {target.version_key: "--version", target.plugin_key: "--plugin"}
    context = {"version_follows_plugin": args.plugin is not None and args.version is None}
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
    if args.dask is not None:
        sweep_mod.dask_client(args.dask).close()  # unreachable: refused before any write
    if args.resume is not None:
        out = args.resume
        plan = sweep_mod.load_plan(out)
        config = configs.validate(target.config_model, plan["config"],
                                  f"{out / 'sweep.json'}: config")
        seeds = range(*plan["seeds"])
        log = plan["log"]
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
                     "run.pct_depth": args.pct_depth, "run.workers": args.workers}
        model, model_flags, context = _model_options(target, args)
        config = configs.load(target.config_model, path, overrides | model,
                              flags | model_flags, context)
        seeds = range(config.run.seed_start, config.run.seed_start + config.run.seeds)
        described = target.describe(config)
        patch = Path(described["plugin"].partition(":")[0]).stem if described.get("plugin") \
            else None
        version = described["version"] + (f"+{patch}" if patch else "")
        out = args.out or Path("runs") / (f"{path.stem}-{version}-{config.run.strategy}-"
                                           f"{seeds.start}-{len(seeds)}")
        log = args.log or "fail"
        sweep_mod.claim(out, config, seeds, log)
        source = str(path)
    workers = args.workers if args.workers is not None else config.run.workers
    sweep = Sweep(target, config, out, log=log, check_determinism=args.check_determinism,
                  workers=workers, stop_after=args.stop_after, dask=args.dask)
    console.print(f"{target.prog}: {source} on {model_label(target.describe(config))}, seeds "
                  f"{seeds.start}..{seeds.stop - 1}, strategy {config.run.strategy} -> {out}")
    already = len(sweep.finished())
    if already:
        console.print(f"{already} seeds already done in {out}: running the rest")
    with Reporter(console, len(seeds), already) as progress:
        sweep.run(seeds, progress)
    summary = sweep.summary()
    _print_summary(console, summary, out)
    if sweep.interrupted:
        console.print(f"interrupted: {len(sweep.records)} finished seeds kept; finish with "
                      f"{target.prog} run --resume {out}")
        return 130
    if summary["harness_errors"]:
        return HARNESS_FAILED
    return 1 if sweep.failures else 0


def _same_as_recorded(target: Target, args: argparse.Namespace, out: Path, config: Any,
                      seeds: range, log: str) -> None:
    """`--resume DIR` runs the sweep recorded in DIR: an option that would change that
    sweep is refused, naming it; options about how to run it (--workers, --stop-after,
    --dask, --check-determinism) apply."""
    recorded = {"--seeds": len(seeds), "--seed-start": seeds.start,
                "--strategy": config.run.strategy, "--pct-depth": config.run.pct_depth,
                "--version": target.describe(config)["version"], "--log": log,
                "--out": out, "--plugin": _key(config, target.plugin_key)}
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


def _key(config: Any, dotted: str) -> Any:
    value = config.model_dump()
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


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
    console.print(f"{s['seeds_run']} seeds, {len(s['failures'])} failing, "
                  f"{s['hit_step_bound']} at the step bound ({s['step_bound_share']:.1%}); "
                  f"steps min/median/max {steps['min']}/{steps['median']}/{steps['max']}"
                  + speed)
    if s["stopped_early"]:
        console.print(f"stopped early: {s['stopped_early']}")
    for warning in s["warnings"]:
        console.print(f"warning: {warning}", style="yellow")
    if s["seeds_lost"]:
        console.print(f"{s['seeds_lost']} seeds lost to harness errors: the sweep is "
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
    zero = [k for k, n in s["coverage"].items() if n == 0]
    console.print("coverage: " + ", ".join(f"{k}={n}" for k, n in s["coverage"].items()))
    if zero:
        console.print(f"never reached: {', '.join(zero)}: this sweep proved nothing about "
                      "those branches", style="yellow")
    console.print(f"summary: {out / 'summary.json'}")


def _replay(target: Target, args: argparse.Namespace, console: Console) -> int:
    art = artifact.load(args.artifact)
    config = configs.validate(target.config_model, art["config"], f"{args.artifact}: config")
    if art.get("harness_version") not in (None, artifact.harness_version()):
        console.print(f"note: recorded with harness {art['harness_version']}, "
                      f"running {artifact.harness_version()}")
    result: Result = run_seed(target, config, art["seed"], keep_log=True, replay=art)
    data = result.log_bytes()
    log_path = args.log_out or args.artifact.with_suffix(".replay.jsonl")
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
                "actors": result.actors, "swarm": result.swarm,
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
    events, problems = logfile.read(args.log)
    for problem in problems:
        console.print(problem, style="yellow")
    timeline = target.timeline(events)
    if args.html is not None:
        write_atomic(args.html, inspect.html(events, timeline, f"{target.prog}: {args.log}")
                     .encode())
        console.print(f"wrote {args.html}")
    if args.perfetto is not None:
        write_atomic(args.perfetto, orjson.dumps(inspect.perfetto(events, timeline)))
        console.print(f"wrote {args.perfetto} (open it in ui.perfetto.dev)")
    if args.failure:
        fail, led = inspect.failure_context(events)
        if fail is None:
            console.print(f"{args.log}: no failure in this log")
            return 0
        console.print(inspect.title(fail), style="bold red")
        for line in inspect.failure_report(fail):
            console.print(line)
        events = led
    chosen = inspect.select(events, gdev=args.gdev, actor=args.actor, event=args.event,
                            steps=args.steps, around=args.around, context=args.context)
    if args.timeline:
        console.print(inspect.timeline_table(chosen, timeline))
    elif args.html is None and args.perfetto is None or args.failure:
        console.print(inspect.table(chosen))
    return 0


def _shrink(target: Target, args: argparse.Namespace, console: Console) -> int:
    art = artifact.load(args.artifact)
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
    cells = zoo_mod.run(target, path, bugs, versions, args.seeds, args.workers)
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
        found = [c for c in cells if c.found]
        if found:
            seconds = sorted(c.seconds for c in found)
            console.print(f"{len(found)} cells found their bug; median time to the first "
                          f"failure {seconds[len(seconds) // 2]:.3f}s, worst {seconds[-1]:.3f}s")
        for line in report["mismatches"]:
            console.print(line, style="bold red")
        console.print("matches the expected table" if not report["mismatches"] else
                      f"{len(report['mismatches'])} cells differ from the expected table")
    return 1 if report["mismatches"] else 0


def _check(target: Target, args: argparse.Namespace, console: Console) -> int:
    events, problems = logfile.read(args.log)
    for problem in problems:
        console.print(problem, style="yellow")
    if not events:
        raise ConfigError(f"{args.log}: no event in it: expected the JSON lines of a run's log")
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
                  + (f", {len(problems)} line{'s' * (len(problems) != 1)} skipped: "
                     "the check is incomplete"
                     if problems else ""))
    return 1 if violations or problems else 0


def _compare(target: Target, args: argparse.Namespace, console: Console) -> int:
    """Exit 1 when B has a failure kind A has not: a patch must not add one."""
    report = compare_mod.compare(args.a, args.b, target.version_key)
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        compare_mod.render(report, console)
    return 1 if report["new_failure_kinds"] else 0


def _versions(target: Target, args: argparse.Namespace, console: Console) -> int:
    switches = target.switches()
    table = Table("version", *(commit[:4] for commit in switches.values()), "about",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for v in target.versions():
        marks = ["x" if name in v["fixes"] else "." for name in switches]
        table.add_row(v["name"], *marks, v["about"])
    console.print(table)
    for name, commit in switches.items():
        console.print(f"  {commit[:4]}  {name:<26} {commit}")
    return 0
