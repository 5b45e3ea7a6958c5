"""The event reference (docs/events.md): every event the zoo's runs emit is in it with
its fields and their types, every event the code names is in it and nothing else, and
the page is the one the declared tables give."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from actors.target import TARGET
from stress import config as configs, events, zoo
from stress.run import run_seed

ROOT = Path(__file__).resolve().parent.parent
TABLE = events.merged(events.ENGINE, TARGET.events())
SEEDS = 3  # per zoo cell, stopping at the bug as `zoo` does; 20 adds no event name


@pytest.fixture(scope="module")
def zoo_events():
    """Every event of the zoo's runs (each bug's scenario on each version), one of each
    (name, field, type) kept."""
    seen: dict[tuple, dict] = {}
    bugs = zoo.load(TARGET.zoo, [v["name"] for v in TARGET.versions()])
    for bug in bugs.values():
        for version in (v["name"] for v in TARGET.versions()):
            config = configs.load(TARGET.config_model, TARGET.zoo.parent / bug.scenario,
                                  {TARGET.version_key: version})
            for seed in range(SEEDS):
                r = run_seed(TARGET, config, seed, keep_log=True, keep_going=True)
                for e in r.events:
                    seen.setdefault((e["event"], *((k, type(v)) for k, v in e.items())), e)
                if any(s.matches(f) for f in r.findings for s in bug.signature):
                    break
    return list(seen.values())


def test_every_event_of_the_zoo_is_in_the_reference(zoo_events):
    wrong = sorted({p for e in zoo_events for p in events.problems(e, TABLE)})
    assert not wrong, "\n".join(wrong) + "\n(declare them in stress/events.py, " \
        "iommu/events.py or actors/events.py, then: python -m actors.events > docs/events.md)"
    assert len({e["event"] for e in zoo_events}) >= 35


def test_a_field_or_event_not_declared_is_caught():
    base = {"seed": 1, "step": 2, "vt": 0.0, "actor": "a", "event": "hw.reset.begin",
            "gdev": "nic0", "what": "FLR", "depth": 1}
    assert events.problems(base, TABLE) == []
    assert events.problems({**base, "colour": "red"}, TABLE) == [
        "hw.reset.begin: field colour not in the event reference"]
    assert events.problems({**base, "depth": "1"}, TABLE) == [
        "hw.reset.begin.depth: a str, the reference says int"]
    assert events.problems({**base, "event": "hw.reset.middle"}, TABLE) == [
        "hw.reset.middle: not in the event reference"]


EMIT = re.compile(r'(?:emit|transition)\(\s*"([\w.]+)"')


def test_the_reference_holds_what_the_code_emits_and_nothing_else(zoo_events):
    named = {m for d in ("stress", "iommu", "actors") for f in sorted((ROOT / d).glob("*.py"))
             for m in EMIT.findall(f.read_text())}
    assert named - set(TABLE) == set()
    assert set(TABLE) - named - {e["event"] for e in zoo_events} == set()


def test_the_page_is_the_one_the_tables_give():
    assert (ROOT / "docs" / "events.md").read_text() == events.render(TARGET), \
        "run: python -m actors.events > docs/events.md"
