"""`report DIR`: one self-contained HTML page for a sweep folder (no script, no network):
the failure table with a link to each failure's own page (`inspect --html` of its first
seed's log), the coverage counters and those never reached, histograms of steps and
virtual time, the strategy mix, and the command that produced the sweep."""

from __future__ import annotations

from collections import Counter
from html import escape
from pathlib import Path
from typing import Any

from stress import compare, html, logfile, strategies
from stress.sweep import load_plan
from stress.log import write_atomic
from stress.target import Target, model_label

STYLE = """body{font:14px system-ui,sans-serif;margin:20px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:6px 0 18px}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left}th{background:#f4f4f4}.never{color:#b00;font-weight:600}
code{background:#f4f4f4;padding:1px 4px}.bar{fill:#1565c0}.axis{font-size:11px;fill:#444}"""


def write(target: Target, folder: Path, out: Path) -> Path:
    """The page for the sweep in `folder`, written to `out`, and the pages of its
    failures next to it (`pages/<seed>.html`)."""
    sweep = compare.load(folder, target.version_key)
    s = sweep["summary"]
    pages = out.parent / "pages"
    links: dict[int, str] = {}
    for kind in s["failure_kinds"]:
        seed = kind["first_seed"]
        log = folder / "logs" / f"{seed}.jsonl"
        if log.exists():
            events, _, _ = logfile.load(log)
            page = pages / f"{seed}.html"
            write_atomic(page, html.page(events, target.timeline(events),
                                         f"{target.prog}: {log}").encode())
            links[seed] = page.relative_to(out.parent).as_posix()
    write_atomic(out, render(target, sweep, links).encode())
    return out


def render(target: Target, sweep: dict[str, Any], links: dict[int, str]) -> str:
    s, records = sweep["summary"], sweep["records"]
    plan = load_plan(Path(sweep["folder"]))
    command = plan.get("command") or "(not recorded: the sweep is older than the field)"
    first, stop = sweep["seeds"]
    parts = [f"<h1>{escape(target.prog)} sweep: {escape(sweep['folder'])}</h1>",
             f"<p>model <b>{escape(model_label(plan.get('model') or {'version': sweep['model']}))}"
             f"</b>, strategy {escape(str(sweep['config']['run']['strategy']))}, seeds "
             f"{first}..{stop - 1} ({len(records)} run), "
             f"{sum(r['failure'] is not None for r in records)} failing</p>",
             f"<p>made by <code>{escape(command)}</code></p>",
             "<h2>Failures</h2>", _failures(s, links),
             "<h2>Coverage</h2>", _coverage(s, target.counters()),
             "<h2>Steps per seed</h2>", _histogram([r["steps"] for r in records], "steps"),
             "<h2>Virtual time per seed</h2>",
             _histogram([r.get("vt", 0.0) for r in records], "seconds"),
             "<h2>Strategy mix</h2>", _strategies(records)]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(sweep['folder'])}"
            f"</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def _table(head: list[str], rows: list[list[str]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
            + "</table>")


def _failures(s: dict[str, Any], links: dict[int, str]) -> str:
    if not s["failure_kinds"]:
        return "<p>none</p>"
    rows = []
    for k in s["failure_kinds"]:
        seed = k["first_seed"]
        page = (f"<a href='{escape(links[seed])}'>seed {seed}</a>" if seed in links
                else f"seed {seed} (no log kept)")
        rows.append([escape(str(k["kind"])), escape(str(k.get("check") or "")),
                     escape(str(k.get("site") or "")), page, str(k["count"])])
    return _table(["kind", "checker", "site", "first seed", "count"], rows)


def _coverage(s: dict[str, Any], meanings: dict[str, str]) -> str:
    never = set(s.get("never_reached") or [])
    rows = [[f"<span class='never'>{escape(k)} (never reached)</span>" if k in never
             else escape(k), str(n), escape(meanings.get(k, ""))]
            for k, n in s["coverage"].items()]
    return _table(["counter", "count", "the branch it counts"], rows)


def _histogram(values: list[float], unit: str, bins: int = 20) -> str:
    """An inline SVG bar chart of `values` in `bins` equal bins, with its range."""
    if not values:
        return "<p>no seed</p>"
    lo, hi = min(values), max(values)
    width = (hi - lo) / bins or 1
    counts = Counter(min(int((v - lo) / width), bins - 1) for v in values)
    top = max(counts.values())
    bars = "".join(
        f"<rect class='bar' data-count='{counts.get(b, 0)}' x='{40 + b * 24}' "
        f"y='{10 + 100 - 100 * counts.get(b, 0) / top:.1f}' width='20' "
        f"height='{100 * counts.get(b, 0) / top:.1f}'><title>{lo + b * width:g}.."
        f"{lo + (b + 1) * width:g} {unit}: {counts.get(b, 0)}</title></rect>"
        for b in range(bins))
    return (f"<svg width='{60 + bins * 24}' height='140'>{bars}"
            f"<text class='axis' x='40' y='128'>{lo:g}</text>"
            f"<text class='axis' x='{40 + bins * 24}' y='128' text-anchor='end'>{hi:g} "
            f"{unit}</text><text class='axis' x='0' y='16'>{top}</text></svg>")


def _strategies(records: list[dict[str, Any]]) -> str:
    mix = Counter(strategies.label(r["strategy"]) for r in records)
    return _table(["strategy", "seeds"], [[escape(k), str(n)] for k, n in sorted(mix.items())])
