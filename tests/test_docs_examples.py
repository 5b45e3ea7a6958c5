"""Every command README.md and docs/*.md show is run, and prints what they show: the
rule for writing them is in tests/docs_examples.py; after an output changes, run
`python -m tests.docs_examples --update`."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tests.docs_examples import DOCUMENTS, ROOT, Block, blocks, check, fit, mask, session
from tests.helpers import slips

@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_document_shows_what_its_commands_print(document: Path, tmp_path: Path) -> None:
    result = check(document, tmp_path)
    text = document.read_text()
    diff = "".join(difflib.unified_diff(text.splitlines(True), result.text.splitlines(True),
                                        "shown", "printed", n=1))
    assert result.text == text, (f"{document.name} shows outputs its commands no longer "
                                 f"print; `python -m tests.docs_examples --update` "
                                 f"rewrites them:\n{diff}")
    for command, printed in result.runs:
        assert not [slip for line in printed for slip in slips(line)], command.text
        # The net has no hole: a character changed at the start, middle or end of any
        # line shown (but a `...`) is a difference.
        for k, line in enumerate(command.shown):
            if line.strip() == "...":
                continue
            for at in {0, len(line) // 2, max(len(line) - 1, 0)}:
                edited = line[:at] + ("#" if line[at:at + 1] != "#" else "@") + line[at + 1:]
                shown = command.shown[:k] + [edited] + command.shown[k + 1:]
                assert fit(shown, printed) != shown, (command.text, edited)


def test_the_readme_runs_its_examples() -> None:
    """The rule has teeth: the README has sessions, and they are the ones users read."""
    commands = [c.text for b in blocks((ROOT / "README.md").read_text())
                if b.language == "sh" for c in session(b)]
    assert "iommu-stress replay runs/v0/failures/1.json" in commands
    assert "iommu-stress shrink runs/all/failures/1.json" in commands
    assert len(commands) >= 6


def test_a_line_changed_missing_or_extra_is_a_difference() -> None:
    printed = ["run: 1 seed, 80.2 seeds/s", "a", "b", "c"]
    assert fit(["run: 1 seed, 99 seeds/s", "a", "b", "c"], printed) == \
        ["run: 1 seed, 99 seeds/s", "a", "b", "c"]  # masked: kept as shown
    assert fit(["run: 1 seed, 1 seeds/s", "a", "x", "c"], printed)[2] == "b"
    assert fit(["run: 1 seed, 1 seeds/s", "a", "c"], printed)[1:] == ["a", "b", "c"]
    assert fit(["run: 2 seeds, 1 seeds/s", "a", "b", "c"], printed)[0] == printed[0]
    assert fit(["run: 1 seed, 1 seeds/s", "a", "b", "c", "d"], printed)[1:] == ["a", "b", "c"]


def test_an_ellipsis_covers_lines_but_not_a_changed_one() -> None:
    new = "NEW in sva-pasid.toml: I6 x{}: first seed 0"
    printed = ["head", "p1", "p2", new.format(150), "tail"]
    assert fit(["head", "  ...", new.format(150), "tail"], printed) == \
        ["head", "  ...", new.format(150), "tail"]
    assert fit(["head", "...", new.format(155), "tail"], printed) == \
        ["head", "...", new.format(150), "tail"]
    assert fit(["...", "tail"], ["tail"]) == ["...", "tail"]  # zero lines
    assert fit(["...", "gone"], printed) == ["..."]  # covered, and "gone" is gone


def test_masks_are_few_and_explicit() -> None:
    assert mask("50 seeds, 80.2 seeds/s  ") == "50 seeds, N seeds/s"
    assert mask("median 0.047s, worst 0.162s") == "median N.Ns, worst N.Ns"
    assert mask("steps 10/20.0/62; seed 3") == "steps 10/20.0/62; seed 3"


def test_blocks_name_their_language_and_sessions_start_with_a_command() -> None:
    with pytest.raises(AssertionError, match="starts with a `\\$ ` command"):
        session(Block("sh", 0, ["pip install -e ."]))
    with pytest.raises(AssertionError, match="never closed"):
        blocks("```sh\n$ iommu-stress versions\n")


def test_slips_are_seen() -> None:
    assert slips("1 checkers violated") == ["1 checkers"]
    assert slips("fail exception  at step 3") == ["double space"]
    assert slips("1 seed, 1 failing; 11 seeds, 1 bus") == []
    assert slips("same failure: check I9 ") == ["trailing space"]
    assert slips(" check   I12     site ") == []  # a table row


def test_a_document_is_run_and_rewritten(tmp_path: Path) -> None:
    """End to end on a small document: a file block is written for the commands after
    it, a stale output is rewritten, and a bare fence is refused."""
    doc = tmp_path / "doc.md"
    doc.write_text("```toml\n# bad.toml\n[run]\nseeds = 0\n```\n\n"
                   "```sh\n$ iommu-stress --version\niommu-stress 0.0.0\n"
                   "$ iommu-stress run bad.toml\n```\n")
    result = check(doc, tmp_path / "scratch")
    assert (tmp_path / "scratch" / "bad.toml").read_text() == "# bad.toml\n[run]\nseeds = 0\n"
    version, bad = (printed for _, printed in result.runs)
    assert version[0].startswith("iommu-stress ") and version[0] != "iommu-stress 0.0.0"
    assert bad[0].startswith("iommu-stress: error: bad.toml: run.seeds: ")
    assert result.text == doc.read_text().replace("iommu-stress 0.0.0\n", version[0] + "\n") \
        .replace("bad.toml\n```\n", "bad.toml\n" + "\n".join(bad) + "\n```\n")
    doc.write_text("```\nplain\n```\n")
    with pytest.raises(AssertionError, match="names its language"):
        check(doc, tmp_path / "scratch")
