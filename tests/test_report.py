"""`report DIR` (one HTML page for a sweep) and `run --junit FILE` (JUnit XML), on a v0
sweep that fails in two ways and a clean one."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import cli


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert cli("run", "--version", "v0", "--seeds", "6", "--out", str(out / "v0"),
               "--junit", str(out / "v0.xml")).returncode == 1
    assert cli("run", "configs/hinic-quirk.toml", "--seeds", "3", "--out", str(out / "ok"),
               "--junit", str(out / "ok.xml")).returncode == 0
    return out


def _summary(folder):
    return json.loads((folder / "summary.json").read_text())


def test_the_report_page(sweeps):
    folder = sweeps / "v0"
    proc = cli("report", str(folder))
    assert proc.returncode == 0 and proc.stdout == f"wrote {folder / 'report.html'}\n"
    page = (folder / "report.html").read_text()
    for outside in ("<script", "src=", "http", "<link", "@import"):
        assert outside not in page  # self-contained, nothing to fetch
    s = _summary(folder)
    assert len(s["failure_kinds"]) == 2
    # The failure table: one row per kind, each linking to its first seed's own page.
    links = re.findall(r"<a href='([^']+)'>seed (\d+)</a>", page)
    assert [int(seed) for _, seed in links] == [k["first_seed"] for k in s["failure_kinds"]]
    for href, seed in links:
        target = (folder / href).read_text()
        assert f'"seed":{seed},' in target and "<svg" in target
    for k in s["failure_kinds"]:
        assert f"<td>{k['site']}</td>" in page and f"<td>{k['count']}</td>" in page
    # Coverage: every counter, those never reached marked.
    never = re.findall(r"<span class='never'>(\w+) \(never reached\)</span>", page)
    assert never == s["never_reached"] and "fence_ebusy" not in never
    # Histograms of steps and virtual time: each bar counts seeds; each chart all of them.
    charts = page.split("<svg")[1:]
    assert len(charts) == 2
    for chart in charts:
        assert sum(map(int, re.findall(r"data-count='(\d+)'", chart))) == 6
    assert f">{s['steps']['max']} steps<" in page
    mix = re.findall(r"<tr><td>(random|pct depth=\d|pos|surw)</td><td>(\d+)</td></tr>", page)
    assert sum(int(n) for _, n in mix) == 6 and {m for m, _ in mix} == {"random", "pos", "surw"}
    assert f"iommu-stress run --version v0 --seeds 6 --out {folder}" in page


def test_report_of_what_is_not_a_sweep_is_bad_input(tmp_path):
    proc = cli("report", str(tmp_path))
    assert proc.returncode == 2 and "sweep.json: no such file" in proc.stderr
    assert not (tmp_path / "report.html").exists()


def _suite(path):
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and len(root) == 1
    suite = root[0]
    assert suite.tag == "testsuite" and int(suite.get("tests")) == len(suite)
    for case in suite:
        assert case.tag == "testcase" and case.get("name") and case.get("classname")
    return suite


def test_junit_has_a_case_per_failure_group_and_one_for_the_clean_seeds(sweeps):
    suite = _suite(sweeps / "v0.xml")
    s = _summary(sweeps / "v0")
    names = [c.get("name") for c in suite]
    assert names == [f"check I12 {k['site']}" for k in s["failure_kinds"]] + ["clean seeds"]
    assert int(suite.get("failures")) == 2 and int(suite.get("errors")) == 0
    for case, k in zip(suite, s["failure_kinds"]):
        failure = case.find("failure")
        assert failure.get("message").startswith(f"{k['count']} seed")
        assert len(failure.text.splitlines()) == k["count"]
    assert suite[-1].find("failure") is None
    assert suite[-1].find("system-out").text == "0 seeds ran clean"
    # A clean sweep: the one case, passing.
    clean = _suite(sweeps / "ok.xml")
    assert [c.get("name") for c in clean] == ["clean seeds"]
    assert clean.get("failures") == "0" and clean[0].find("system-out").text == "3 seeds ran clean"
