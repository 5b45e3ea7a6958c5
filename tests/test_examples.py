"""The worked patches of examples/: every command examples/README.md shows is run as
written, in a scratch folder that sees examples/ and configs/ (so each run writes its
own runs/), and must end as the README says. The commands are written once, here; the
README and each patch's header must show exactly these, so the docs cannot drift.

Each example has a clean group (the patch, or the model it patches, is clean) and a
break group (the same config and seeds find a bug), so that a clean result is shown
to mean something."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT, cli

EXAMPLES = ROOT / "examples"
README = EXAMPLES / "README.md"


@dataclass(frozen=True)
class Case:
    command: str  # as the README shows it, continuation lines joined
    exit: int
    kinds: tuple[tuple[str, str], ...] = ()  # a run's failure table: (check, site) rows
    says: str = ""  # a phrase the output must have
    header: str | None = None  # the example file whose header shows the command


def run(config: str, seeds: int, out: str, plugin: str | None = None) -> str:
    patch = f" --plugin {plugin}" if plugin else ""
    return f"iommu-stress run {config} --seeds {seeds}{patch} --out runs/examples/{out}"


def zoo(plugin: str, bugs: str = "") -> str:
    only = f" --bugs {bugs}" if bugs else ""
    return f"iommu-stress zoo --plugin {plugin}{only} --versions vf --seeds 20 --workers 1"


FIX, B7, HOT, V6 = ("examples/fix_correct.py", "examples/reintroduce_b7.py",
                    "examples/new_caller/fence_hot_reset.py", "examples/v6_nested.py")
HOT_CONFIG = "examples/new_caller/config.toml"

GROUPS: dict[str, list[Case]] = {
    "fix_correct-clean": [
        Case(run("examples/fix_correct.toml", 100, "vf-probe"), 0, says="nested_prepare=158"),
        Case(run("examples/fix_correct.toml", 100, "probe-no-fence", f"{FIX}:ProbeNoFence"), 0,
             says="nested_prepare=0", header=FIX),
        Case(zoo(f"{FIX}:ProbeNoFence"), 0, says="the patch fixes none and brings in none"),
    ],
    "fix_correct-break": [
        Case(run("examples/fix_correct.toml", 100, "slot-reset-unfenced",
                 f"{FIX}:SlotResetUnfenced"), 1, (("I5", ""),), header=FIX),
        Case("iommu-stress replay runs/examples/slot-reset-unfenced/failures/0.json", 0,
             says="fail check I5"),
    ],
    "reintroduce_b7-clean": [
        Case(run("configs/default.toml", 20, "vf-default"), 0),
        Case(run("examples/reintroduce_b7.toml", 20, "vf-b7"), 0),
    ],
    "reintroduce_b7-break": [
        Case(run("configs/default.toml", 20, "b7-default", f"{B7}:FenceNofail"), 1,
             (("I12", "__iommu_group_set_domain_nofail"),), header=B7),
        Case("iommu-stress replay runs/examples/b7-default/failures/0.json", 0,
             says="fail check I12"),
        Case(run("examples/reintroduce_b7.toml", 20, "b7-uaf", f"{B7}:FenceNofail"), 1,
             (("I10", ""),), header=B7),
        Case("iommu-stress replay runs/examples/b7-uaf/failures/1.json", 0,
             says="fail check I10"),
        Case(zoo(f"{B7}:FenceNofail", "B7,B13"), 1, says="fixes none and brings in B7"),
    ],
    "new_caller-clean": [
        Case(run(HOT_CONFIG, 20, "vf-hot-reset"), 1, (("I15", ""),)),  # B16, why the patch
        Case(f"iommu-stress replay runs/examples/vf-hot-reset/failures/0.json --plugin "
             f"{HOT}:FenceHotReset", 0, says="passes: the run ends ok"),
        Case(run(HOT_CONFIG, 200, "fence-hot-reset", f"{HOT}:FenceHotReset"), 0, header=HOT),
        Case(zoo(f"{HOT}:FenceHotReset", "B16"), 0, says="the patch fixes B16"),
    ],
    "new_caller-break": [
        Case(run(HOT_CONFIG, 200, "fence-hot-reset-early-done",
                 f"{HOT}:FenceHotResetEarlyDone"), 1, (("I15", ""),), header=HOT),
        Case("iommu-stress replay runs/examples/fence-hot-reset-early-done/failures/1.json",
             0, says="fail check I15"),
        Case(zoo(f"{HOT}:FenceHotResetEarlyDone", "B16"), 0, says="the patch fixes none"),
    ],
    # The seed patch: the one command finds its two review findings (B7, B8), and they
    # replay; the break is its base on the siblings' config, which the patch makes pass.
    "v6_nested-clean": [
        Case(f"iommu-stress check-patch {V6}:V6 --out runs/check-patch-v6", 0,
             says="known bugs the patch has (its base too): B7, B8/B13", header=V6),
        Case("iommu-stress replay runs/check-patch-v6/default/patch/failures/0.json", 0,
             says="WARN in __iommu_group_set_domain_nofail"),
        Case("iommu-stress replay runs/check-patch-v6/sva-pasid/patch/failures/0.json", 0,
             says="ATS invalidation (pasid 2) sent to acc0 while it is in reset"),
    ],
    "v6_nested-break": [
        Case(run("configs/multi-device-group.toml --version s2", 20, "s2-siblings"), 1,
             (("I12", "pci_dev_reset_iommu_prepare"), ("I8", ""))),
        Case(run("configs/multi-device-group.toml", 20, "v6-siblings", f"{V6}:V6"), 0,
             says="sibling_reset_overlap=68"),
    ],
}


def shown(text: str) -> list[tuple[str, list[str]]]:
    """Each `$ iommu-stress ...` command in `text` (continuation lines joined, spaces
    collapsed) with the lines that follow it, up to the next command or the end of its
    code block or docstring."""
    out: list[tuple[str, list[str]]] = []
    lines = iter(text.splitlines())
    following: list[str] | None = None
    for line in lines:
        if line.startswith("$ iommu-stress "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1] + " " + next(lines)
            following = []
            out.append((" ".join(command.split()), following))
        elif line.startswith(("```", '"""')):
            following = None
        elif following is not None:
            following.append(line)
    return out


def normal(line: str) -> str:
    """What may differ from run to run or between edits of a patch: speeds, a
    patch's source hash."""
    line = re.sub(r"[\d,.]+ seeds/s", "N seeds/s", line)
    return re.sub(r"\(sha [0-9a-f]{8}\)", "(sha ...)", line).strip()


def failure_kinds(output: str) -> list[tuple[str, str]]:
    """The (check, site) rows of a sweep's failure table."""
    rows = [line.split() for line in output.splitlines() if line.strip().startswith("check ")]
    return [(r[1], r[2] if len(r) == 5 else "") for r in rows]


ALL = [case for group in GROUPS.values() for case in group]


def test_the_readme_and_the_headers_show_these_commands() -> None:
    assert [c for c, _ in shown(README.read_text())] == [case.command for case in ALL]
    for path in {case.header for case in ALL if case.header}:
        text = (ROOT / path).read_text()
        assert [c for c, _ in shown(text)] == [case.command for case in ALL
                                                if case.header == path], path
    for example in {name.rpartition("-")[0] for name in GROUPS}:
        assert {f"{example}-clean", f"{example}-break"} <= set(GROUPS)  # paired


@pytest.mark.parametrize("group", GROUPS)
def test_example(group: str, tmp_path: Path) -> None:
    for name in ("examples", "configs"):
        (tmp_path / name).symlink_to(ROOT / name)
    excerpts = dict(shown(README.read_text()))
    for case in GROUPS[group]:
        p = cli(*shlex.split(case.command)[1:], cwd=tmp_path)
        output = p.stdout + p.stderr
        assert p.returncode == case.exit, f"{case.command}\n{output}"
        if case.command.startswith("iommu-stress run "):
            assert failure_kinds(output) == list(case.kinds), output
            if not case.kinds:
                assert re.search(r"\b0 failing\b", output), output
        assert case.says in output, output
        lines = {normal(line) for line in output.splitlines()}
        for line in excerpts[case.command]:
            assert not line.strip() or normal(line) in lines, \
                f"README shows {line!r} for {case.command}; it prints:\n{output}"
