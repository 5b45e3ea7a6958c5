"""Tests that mutation testing (bench/mutation.sh) showed missing, for stress/strategies.py,
stress/streams.py and stress/api.py: contracts the suite relied on only implicitly, or checked only
through CLI subprocesses (replay, shrink), which mutmut cannot map to the code they run."""

from __future__ import annotations

import pytest

from stress.runtime import Divergence
from stress.strategies import PCT, Guided, RandomWalk, Replay, make, preemptions
from stress.streams import Faults, Swarm, never, stream


# -- streams: who draws from which stream ---------------------------------------------------

def test_random_walk_draws_from_the_seeds_schedule_stream():
    for seed in range(5):
        walk, rng = RandomWalk(seed, 3), stream(seed, "schedule")
        enabled = [0, 1, 2]
        assert [walk.pick(step, enabled) for step in range(1, 30)] == \
            [enabled[rng.randrange(3)] for _ in range(1, 30)]


def test_pct_priorities_come_from_the_seeds_schedule_stream():
    for seed in range(5):
        order = list(range(4))
        stream(seed, "schedule").shuffle(order)
        expected = [0] * 4
        for rank, actor in enumerate(order):
            expected[actor] = 3 + rank
        assert PCT(seed, 4, 3, 50).priority == expected


def test_faults_draw_from_the_seeds_faults_stream():
    for seed in range(5):
        faults, rng = Faults({"site": 0.5}, seed), stream(seed, "faults")
        assert [faults("site") for _ in range(40)] == [rng.random() < 0.5 for _ in range(40)]


def test_a_zero_probability_fault_site_is_not_armed_draws_nothing_and_asks_no_swarm():
    swarm = Swarm(3, True)
    faults, alone = Faults({"off": 0.0, "on": 0.5}, 3, swarm), Faults({"on": 0.5}, 3)
    assert list(faults.armed) == ["on"] and list(swarm.decisions) == ["fault:on"]
    for _ in range(40):
        assert faults("off") is False
        assert faults("on") == alone("on")  # the unarmed site shifted nothing


def test_never_fires():
    assert never("attach_dev") is False


# -- PCT -------------------------------------------------------------------------------

def test_pct_change_points_fall_on_steps_1_to_steps_and_reach_both_ends():
    seen = set()
    for seed in range(200):
        change = PCT(seed, 2, 3, 3).change
        assert set(change.values()) == {1, 2}
        seen |= set(change)
    assert seen == {1, 2, 3}


def test_pct_after_a_change_point_runs_the_enabled_actor_of_highest_priority():
    pct = PCT(0, 3, 2, 10)
    pct.priority, pct.change = [7, 9, 5], {2: 1}
    assert pct.pick(1, [0, 1, 2]) == 1
    assert pct.pick(2, [0, 1, 2]) == 0  # actor 1 dropped to priority 1: actor 0 (7) next
    assert pct.priority == [7, 1, 5]
    assert pct.pick(3, [1, 2]) == 2


def test_make_names_an_unknown_strategy():
    with pytest.raises(ValueError, match=r"^unknown strategy 'dfs'$"):
        make({"name": "dfs"}, 0, [])


# -- Guided and preemptions (used by shrink) ---------------------------------------------

def test_guided_follows_the_names_else_the_last_actor_else_the_first_enabled():
    names = ["a", "b", "c"]
    assert Guided(["c"], names).pick(1, [0, 1]) == 0  # no actor ran yet: the first enabled
    guided = Guided(["a", "b"], names)
    assert guided.pick(1, [0, 1, 2]) == 0
    assert guided.pick(2, [0, 2]) == 0  # b is not enabled: a, which ran last, goes on
    guided = Guided(["a", "zz", "c"], names)
    assert guided.pick(1, [0, 1, 2]) == 0
    assert guided.pick(2, [0, 1, 2]) == 0  # an unknown name: the last actor goes on
    assert guided.pick(3, [0, 1, 2]) == 2  # the guide's last step is followed too
    assert guided.pick(4, [0, 1, 2]) == 2  # past the guide: the last actor goes on
    assert guided.pick(5, [0, 1]) == 0  # ... unless it is not enabled
    assert guided.last == 0


def test_preemptions_count_only_switches_away_from_an_actor_that_could_go_on():
    assert preemptions([]) == 0 and preemptions([(0, [0, 1])]) == 0
    decisions = [(0, [0, 1]), (1, [0, 1]), (0, [0, 1]), (0, [0, 1]), (1, [1])]
    # 0->1 and 1->0 with the other enabled; 0->0 is no switch; 0->1 with 0 not enabled is
    # forced.
    assert preemptions(decisions) == 2


# -- Replay (used by replay) -----------------------------------------------------------

NAMES = ["a", "b"]


def _divergence(replay: Replay, step: int, enabled: list[int]) -> str:
    with pytest.raises(Divergence) as caught:
        replay.pick(step, enabled)
    return str(caught.value)


def test_replay_follows_the_recorded_schedule_then_stops_at_its_end():
    replay = Replay([(0, [0, 1]), (1, [1])], None, NAMES, "random")
    assert replay.pick(1, [0, 1]) == 0
    assert replay.pick(2, [1]) == 1
    assert _divergence(replay, 3, [1]) == "the run goes on past the 2 recorded steps"


def test_replay_names_the_enabled_actors_that_differ():
    replay = Replay([(0, [0, 1]), (0, [0, 2, 5, -1])], None, NAMES, "random")
    assert _divergence(replay, 1, [0]) == "enabled actors ['a'], recorded ['a', 'b']"
    assert replay.pick(1, [0, 1]) == 0
    assert (_divergence(replay, 2, [0, 1])
            == "enabled actors ['a', 'b'], recorded ['a', '2', '5', '-1']")


def test_replay_refuses_a_recorded_choice_that_is_not_enabled():
    replay = Replay([(1, [0])], None, NAMES, "random")
    assert _divergence(replay, 1, [0]) == "recorded choice 1 is not enabled"


class _Chooses:
    def __init__(self, choice: int) -> None:
        self.choice, self.asked = choice, []

    def pick(self, step: int, enabled: list[int]) -> int:
        self.asked.append((step, enabled))
        return self.choice


def test_replay_with_the_seeds_strategy_refuses_an_edited_choice():
    agrees = _Chooses(0)
    assert Replay([(0, [0, 1])], agrees, NAMES, "pct").pick(1, [0, 1]) == 0
    assert agrees.asked == [(1, [0, 1])]
    replay = Replay([(0, [0, 1])], _Chooses(1), NAMES, "pct")
    assert (_divergence(replay, 1, [0, 1])
            == "recorded a, the seed's pct strategy chose b")


# -- api: a Summary's report ------------------------------------------------------------------

def test_a_summary_report_names_a_failure_without_actor_or_checker_by_its_kind():
    from pathlib import Path

    from stress.api import Summary

    failure = {"seed": 3, "kind": "deadlock", "check": None, "site": None, "step": 7,
               "actor": None, "message": "every actor waits"}
    data = {"version": "vf", "seeds_run": 4, "failures": [failure], "harness_errors": [],
            "failure_kinds": [{"kind": "deadlock", "check": None, "site": None, "count": 1}]}
    report = Summary(Path("out"), data, False, "iommu-stress").report().splitlines()
    assert report[1] == "first failure: seed 3, step 7 (actor none): deadlock: every actor waits"
    assert report[2] == "failure kinds: deadlock x1"


def test_a_summary_exit_code_is_130_interrupted_3_harness_1_failing_else_0():
    from pathlib import Path

    from stress.api import Summary

    def code(interrupted=False, errors=(), failures=(), bound=0, **kw):
        data = {"failures": list(failures), "harness_errors": list(errors),
                "hit_step_bound": bound}
        return Summary(Path("out"), data, interrupted, "iommu-stress").exit_code(**kw)

    error = {"seeds": [0, 9], "error": "killed"}
    assert code(interrupted=True, errors=[error], failures=[{}]) == 130
    assert code(errors=[error], failures=[{}]) == 3
    assert code(failures=[{}]) == 1
    assert code(bound=2) == 0 and code(bound=2, fail_on_step_bound=True) == 1
    assert code() == 0
