"""The commands and outputs shown in README.md and docs/*.md, run and compared.

The rule, for whoever writes those pages:

- A ```sh block is a session: each line starting with `$ ` is an `iommu-stress` command
  (a trailing `\\` continues it on the next line), and the lines after it, up to the next
  `$ ` line or the end of the block, are exactly what it prints (stdout and stderr, as a
  terminal 80 columns wide shows them). A ```sh block starts with a `$ ` line.
- Everything else shown in a block (install lines, config excerpts, plugin files, tables,
  diagrams) is fenced with another language: ```text, ```toml, ```python, ```c. Every
  block names its language, so that nothing is run, or left unrun, by accident.
- A ```python or ```toml block whose first line is `# NAME.py` or `# NAME.toml` is a
  file a later command uses: it is written as NAME into the scratch folder.
- An output line that is just `...` stands for any number of lines (zero included).

The commands of one document run in order, in one scratch folder of their own that sees
the checkout's configs/, examples/, tests/ and docs/ (a later command reads an earlier
one's `runs/...`). What differs from run to run is masked, on both sides: MASKS below,
the trailing blanks rich pads table rows with, the scratch folder's path, and the plain
progress lines a sweep prints when its output is not a terminal (a terminal shows a
transient bar instead); blank lines at either end of an output are not shown.

`python -m tests.docs_examples --update [FILE...]`, from the checkout's root, runs the
documents (default: all) and rewrites their outputs in place; a line that still matches
keeps its text (its seeds/s, say), and a `...` keeps standing for what it covers.
"""

from __future__ import annotations

import re
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import ROOT, cli

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHARED = ("configs", "examples", "tests", "docs", "bench")  # what the scratch folder sees
FENCE = re.compile(r"^```(\S*)")
FILE = re.compile(r"^# ([\w.-]+\.(?:py|toml))\b")
ELLIPSIS = "..."

# What differs from run to run (pattern, what it reads as).
MASKS = [
    (re.compile(r"[\d,.]+ seeds/s"), "N seeds/s"),  # speed
    (re.compile(r"\b\d+\.\d+s\b"), "N.Ns"),  # wall-clock seconds (the zoo's time to a failure)
    (re.compile(r"\b\d+\.\d+ s\)"), "N.N s)"),  # and explore's, at the end of its line
]
PROGRESS = re.compile(r"^\d+/\d+ seeds, \d+ failing.* seeds/s$")


@dataclass
class Command:
    text: str  # as shown, continuation lines joined
    first: int  # the index of its first output line in the document's lines
    shown: list[str] = field(default_factory=list)  # the output the document shows


@dataclass
class Block:
    language: str
    start: int  # the index of the opening fence
    lines: list[str]


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text; fails on an unclosed one."""
    out: list[Block] = []
    current: Block | None = None
    for i, line in enumerate(text.splitlines()):
        match = FENCE.match(line)
        if match and current is None:
            current = Block(match.group(1), i, [])
        elif line.startswith("```") and current is not None:
            out.append(current)
            current = None
        elif current is not None:
            current.lines.append(line)
    assert current is None, f"a block opened at line {current.start + 1} is never closed"
    return out


def session(block: Block) -> list[Command]:
    """The commands of a ```sh block, each with the output shown after it."""
    assert block.lines and block.lines[0].startswith("$ "), \
        f"line {block.start + 2}: a ```sh block starts with a `$ ` command"
    commands: list[Command] = []
    i = 0
    while i < len(block.lines):
        line = block.lines[i]
        if line.startswith("$ "):
            text = line[2:]
            while text.endswith("\\"):
                i += 1
                text = text[:-1] + " " + block.lines[i]
            commands.append(Command(" ".join(text.split()), block.start + 2 + i))
        else:
            commands[-1].shown.append(line)
        i += 1
    return commands


def mask(line: str) -> str:
    line = line.rstrip()
    for pattern, replacement in MASKS:
        line = pattern.sub(replacement, line)
    return line


def run(command: str, scratch: Path) -> list[str]:
    """What `command` prints, run in `scratch`: its lines, rstripped, without the
    progress lines and the blank lines at either end."""
    words = shlex.split(command)
    assert words[0] == "iommu-stress", f"{command!r}: the docs run iommu-stress commands only"
    p = cli(*words[1:], cwd=scratch, merged=True)
    lines = [line.rstrip() for line in p.stdout.replace(f"{scratch}/", "").splitlines()
             if not PROGRESS.match(line)]
    return "\n".join(lines).strip("\n").split("\n") if any(lines) else []


def alike(a: str, b: str) -> bool:
    """Two lines share at least half their words."""
    x, y = set(a.split()), set(b.split())
    return 2 * len(x & y) >= len(x | y)


def fit(shown: list[str], printed: list[str]) -> list[str]:
    """`shown` made to match `printed`: the lines that match (masked) keep their text, a
    `...` keeps what it covers, the rest is what was printed. It is `shown` itself
    exactly when `shown` matches. An alignment of least cost: a changed line costs 1
    (a line is changed, rather than gone and another new, when they are alike), a
    missing or extra line 2, and a `...` covers any lines for nothing."""
    n, m = len(shown), len(printed)
    want = [mask(line) for line in shown]
    got = [mask(line) for line in printed]
    dots = [line.strip() == ELLIPSIS for line in shown]
    inf = float("inf")
    change = [[0 if w == g else 1 if alike(w, g) else inf for g in got] for w in want]
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    cost[n][m] = 0
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            if i == n and j == m:
                continue
            options = []
            if i < n and dots[i]:
                options.append(cost[i + 1][j])
                if j < m:
                    options.append(cost[i][j + 1])
            else:
                if i < n and j < m:
                    options.append(change[i][j] + cost[i + 1][j + 1])
                if i < n:
                    options.append(2 + cost[i + 1][j])
                if j < m:
                    options.append(2 + cost[i][j + 1])
            cost[i][j] = min(options)
    out: list[str] = []
    i = j = 0
    while i < n or j < m:
        if i < n and dots[i]:
            if j < m and cost[i][j] == cost[i][j + 1]:
                j += 1  # covered
            else:
                out.append(shown[i])
                i += 1
        elif i < n and j < m and cost[i][j] == change[i][j] + cost[i + 1][j + 1]:
            out.append(shown[i] if want[i] == got[j] else printed[j])
            i, j = i + 1, j + 1
        elif i < n and cost[i][j] == 2 + cost[i + 1][j]:
            i += 1  # no longer printed
        else:
            out.append(printed[j])
            j += 1
    return out


@dataclass
class Result:
    text: str  # the document with every output as the commands print it now
    runs: list[tuple[Command, list[str]]]  # each command, with what it printed


def check(document: Path, scratch: Path) -> Result:
    """Runs the document's sessions in `scratch` and returns it regenerated."""
    scratch.mkdir(exist_ok=True)
    for name in SHARED:
        if not (scratch / name).exists():
            (scratch / name).symlink_to(ROOT / name)
    lines = document.read_text().splitlines()
    replaced: dict[int, tuple[int, list[str]]] = {}  # first line -> (count, new lines)
    runs: list[tuple[Command, list[str]]] = []
    for block in blocks("\n".join(lines)):
        where = f"{document.name}:{block.start + 1}"
        assert block.language, f"{where}: a block names its language (```text, ```toml, ...)"
        name = FILE.match(block.lines[0]) if block.lines else None
        if name and block.language in ("python", "toml"):
            path = scratch / name.group(1)
            assert not path.exists(), f"{where}: {name.group(1)} is written twice"
            path.write_text("\n".join(block.lines) + "\n")
        if block.language != "sh":
            continue
        for command in session(block):
            printed = run(command.text, scratch)
            runs.append((command, printed))
            replaced[command.first] = (len(command.shown), fit(command.shown, printed))
    out: list[str] = []
    done = 0
    for first, (count_shown, new) in sorted(replaced.items()):
        out += lines[done:first] + new
        done = first + count_shown
    out += lines[done:]
    return Result("\n".join(out) + "\n", runs)


def main(argv: list[str]) -> int:
    """--update [FILE...]: rewrite the documents' outputs as the commands print them."""
    if not argv or argv[0] != "--update":
        print("usage: python -m tests.docs_examples --update [FILE...]", file=sys.stderr)
        return 2
    documents = [Path(a).resolve() for a in argv[1:]] or DOCUMENTS
    for document in documents:
        with tempfile.TemporaryDirectory() as scratch:
            result = check(document, Path(scratch))
        changed = result.text != document.read_text()
        if changed:
            document.write_text(result.text)
        print(f"{document.relative_to(ROOT)}: {len(result.runs)} commands, "
              f"{'rewritten' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
