"""bench/deep.py: its fast mode finds its bugs, and the planted defects are the plugins'
(mainline passes the same configs over the same seeds)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actors.target import TARGET
from bench.deep import PLANTED, bugs
from stress import config as configs
from stress.run import learned, run_seed
from stress.strategies import arm
from tests.helpers import ROOT


def test_the_fast_mode_finds_its_bugs_under_every_strategy_that_can():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "deep.py"), "--fast"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "found every bug" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| vf+")
            or line.startswith("| classic")]
    assert len(rows) == 2
    for row in rows:  # pos and surw, at least, find each
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert not cells[3].startswith(">") and not cells[4].startswith(">"), row


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_mainline_passes_where_the_planted_defect_fails(name):
    _, cls, config_name = PLANTED[name]
    planted = bugs(fast=False)[f"vf+{cls}"][2]
    clean = configs.load(TARGET.config_model, ROOT / "configs" / config_name,
                         {"model.version": "vf", "run.strategy": "random"})
    found = [s for s in range(60) if run_seed(TARGET, planted, s, keep_log=False,
                                              strategy={"name": "pos"}).failed]
    assert found, f"{cls} not found in 60 seeds"
    assert not any(run_seed(TARGET, clean, s, keep_log=False, strategy={"name": "pos"}).failed
                   for s in range(60))


@pytest.mark.parametrize("name", ["classic lost-update", "classic lock-order"])
def test_the_portfolio_gives_most_seeds_to_the_strategy_that_varies_the_order_most(name):
    # Two actors that each run their shared steps in a burst: a random walk and POS
    # repeat a few orders of them in the calibration runs, SURW varies them, and takes
    # the seeds in that proportion (bench/deep.py: SURW is the best there by far).
    _, target, config = bugs(fast=False)[name]
    weights = learned(target, config)["weights"]
    assert weights["surw"] >= 2 * max(weights["random"], weights["pos"]), weights
    total = sum(weights.values())
    for first in (0, 5, 100_000):  # any run of `total` seeds has each one's share
        took = [arm(s, weights) for s in range(first, first + total)]
        assert {a: took.count(a) for a in weights} == weights


def test_on_the_model_every_strategy_varies_the_order_and_gets_a_like_share():
    _, _, config = bugs(fast=False)["vf+CheckThenAct"]
    weights = learned(TARGET, config)["weights"]
    assert min(weights.values()) >= 6, weights  # of 8 runs: no strategy repeats itself
