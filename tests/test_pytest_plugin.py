"""The pytest plugin and the Python API: examples/test_my_scenario.py run with pytest in a
fresh process (clean on mainline; on v0 it fails naming B1's checker, and the replay
command it prints reproduces the failure exactly), and `stress.api.sweep` against the
CLI's `run`."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import orjson
import pytest

from actors.pytest_plugin import function_spec, scenario
from actors.target import TARGET
from stress import api, testing
from stress.config import ConfigError
from tests.helpers import DEFAULT, ROOT, cli, load, not_under_mutmut_elsewhere

EXAMPLE = "examples/test_my_scenario.py"
TEST = "test_cxl_reset_next_to_a_driver"


def pytest_run(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    """pytest ARGS in a new interpreter in `cwd`, with this checkout's plugin and `env`
    added to the environment."""
    not_under_mutmut_elsewhere(cwd)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "actors.pytest_plugin",
                           "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": path, **env})


def summary_of(out, test: str = TEST) -> dict:
    folder = out / f"examples_test_my_scenario.py_{test}"
    return orjson.loads((folder / "summary.json").read_bytes())


def test_the_example_passes_on_mainline(tmp_path):
    proc = pytest_run(EXAMPLE, "--stress-out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
    s = summary_of(tmp_path)
    assert (s["version"], s["seeds_run"], s["failures"]) == ("vf", 50, [])  # the marker's 50


def test_the_example_fails_on_v0_with_b1s_checker_and_a_replay_that_reproduces(tmp_path):
    b1 = tomllib.loads((ROOT / "configs/zoo/zoo.toml").read_text())["B1"]["signature"][0]
    # --stress-seeds overrides the marker; under xdist, into --stress-out.
    proc = pytest_run(EXAMPLE, "--stress-version", "v0", "--stress-seeds", "4", "-n", "2",
                      "--stress-out", str(tmp_path))
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "1 failed, 1 passed" in out
    assert f"checker {b1['check']} at {b1['site']}: WARN in {b1['site']}: {b1['cond']}" in out
    assert summary_of(tmp_path)["seeds_run"] == 4
    command = re.search(r"^reproduce: (iommu-stress replay \S+)$", out, re.M).group(1)
    artifact = shlex.split(command)[2]
    assert artifact.startswith(str(tmp_path))
    for key in ("artifact", "log"):
        assert re.search(rf"^{key}: {re.escape(str(tmp_path))}\S+$", out, re.M)
    replay = cli(*shlex.split(command)[1:], cwd=tmp_path)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert replay.stdout.startswith("reproduced exactly: seed 0, fail check I12")


def test_a_sweep_from_python_is_the_cli_run(tmp_path):
    """The same summary from a path, a dict and the config model as from `run`, all
    but the timing."""
    proc = cli("run", str(DEFAULT), "--seeds", "6", "--out", str(tmp_path / "cli"))
    assert proc.returncode == 0, proc.stderr
    timing = ("seconds", "schedules_per_second")

    def same(s: dict) -> dict:
        return {k: v for k, v in s.items() if k not in timing}
    want = same(orjson.loads((tmp_path / "cli" / "summary.json").read_bytes()))
    raw = tomllib.loads(DEFAULT.read_text())
    for i, config in enumerate((DEFAULT, raw, load())):
        summary = api.sweep(TARGET, config, 6, tmp_path / str(i))
        assert summary.clean and summary.exit_code() == 0
        assert same(summary.data) == want
        assert same(orjson.loads((tmp_path / str(i) / "summary.json").read_bytes())) == want


def test_a_failing_sweep_from_python_names_its_artifact_and_replay(tmp_path):
    summary = api.sweep(TARGET, load(**{"model.version": "v0"}), range(3, 5), tmp_path)
    assert not summary.clean and summary.exit_code() == 1
    assert [f["seed"] for f in summary.failures] == [3, 4]
    first = summary.failures[0]
    assert first["artifact"] == str(tmp_path / "failures" / "3.json")
    assert summary.replay_command() == f"iommu-stress replay {first['artifact']}"
    assert f"checker {first['check']} at {first['site']}" in summary.report()


@pytest.mark.parametrize("config,seeds,message", [
    ({"group": [{"name": "g", "device": [{"name": "d0"}]}], "actor": [], "bad": 1}, None,
     "config: bad: unknown key"),
    (DEFAULT, 0, "seeds: expected a positive number, got 0"),
    (DEFAULT, range(5, 2), "seeds: expected a positive number or a non-empty range"),
])
def test_bad_input_to_the_api_raises_and_writes_nothing(tmp_path, config, seeds, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        api.sweep(TARGET, config, seeds, tmp_path / "out")
    assert not (tmp_path / "out").exists()


async def not_async(world, pdev):
    pass


def test_a_function_actor_must_be_a_module_level_async_function(tmp_path):
    def sync(world, pdev):
        pass

    async def local(world, pdev):
        pass
    for fn in (sync, local):
        with pytest.raises(TypeError, match="module-level `async def`"):
            function_spec(fn)
    assert function_spec(not_async) == f"{ROOT / 'tests' / 'test_pytest_plugin.py'}:not_async"
    bad = {"group": [{"name": "g", "device": [{"name": "d0"}]}],
           "actor": [{"kind": "function", "fn": f"{ROOT / 'tests/helpers.py'}:kernel",
                      "target": "d0"}]}
    with pytest.raises(ConfigError, match=r"actor\[0\]: fn: 'helpers.py:kernel' is not an "
                                          "async function"):
        api.sweep(TARGET, bad, 1, tmp_path / "out")
    assert scenario({"actor": [{"fn": not_async, "target": "d0"}]})["actor"] == [
        {"kind": "function", "fn": function_spec(not_async), "target": "d0"}]


async def test_the_stress_runner_works_inside_a_trio_test(tmp_path):
    """pytest-trio's trio mode: the engine runs its own trio loop, in a thread."""
    b1 = ROOT / "configs/zoo/b01-cxl-nested.toml"
    runner = testing.Runner(TARGET, testing.Settings(seeds=3), tmp_path / "vf")
    assert runner(b1).data["seeds_run"] == 3
    broken = testing.Runner(TARGET, testing.Settings(seeds=3, version="v0"), tmp_path / "v0")
    with pytest.raises(pytest.fail.Exception, match="checker I12 at pci_dev_reset_iommu_"):
        broken(b1)


def test_the_readme_python_api_example_runs_as_written(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "runs/api-v0/failures/0.json").is_file()
    assert cli("replay", "runs/api-v0/failures/0.json", cwd=tmp_path).returncode == 0


SETTINGS_TESTS = '''
import os
import pytest


async def nested(iommu_model):
    m = iommu_model()
    dev = m.dev("d0")
    assert await m.kernel.pci_dev_reset_iommu_prepare(dev) == 0
    ret = await m.kernel.pci_dev_reset_iommu_prepare(dev)
    return f"{type(m.kernel).__name__} {ret.name if ret else 'ok'}"


@pytest.mark.trio
async def test_unmarked(iommu_model):
    assert await nested(iommu_model) == os.environ["WANT_UNMARKED"]


@pytest.mark.trio
@pytest.mark.stress(version="v0")
async def test_marked(iommu_model):
    assert await nested(iommu_model) == os.environ["WANT_MARKED"]
'''


@pytest.mark.parametrize("options,unmarked,marked", [
    ((), "Kernel ok", "Kernel EBUSY"),  # vf counts a nested prepare; v0 refuses it (B1)
    (("--stress-version", "v0"), "Kernel EBUSY", "Kernel EBUSY"),
    (("--stress-plugin", str(ROOT / "examples/v6_nested.py:V6")), "V6 ok", "V6 ok"),
])
def test_the_model_fixture_follows_the_marker_and_the_options(tmp_path, options, unmarked,
                                                              marked):
    (tmp_path / "test_settings.py").write_text(SETTINGS_TESTS)
    proc = pytest_run("test_settings.py", *options, cwd=tmp_path, WANT_UNMARKED=unmarked,
                      WANT_MARKED=marked)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


def test_a_monkeypatching_test_leaves_no_calibration_to_the_next(tmp_path):
    """A config's calibration is kept for the life of the process. A test that
    monkeypatches the model calibrates the patched model, so the plugin drops what it
    learned after such a test: the next test's seeds run as in a fresh process."""
    (tmp_path / "test_two.py").write_text(
        "from actors.target import TARGET\n"
        "from stress import run\n"
        "from tests.helpers import load\n\n"
        "def test_patched(monkeypatch):\n"
        "    run.learned(TARGET, load())\n"
        "    assert run._LEARNED\n\n"
        "def test_next():\n"
        "    assert not run._LEARNED\n")
    proc = pytest_run("test_two.py", cwd=tmp_path)
    assert proc.returncode == 0 and "2 passed" in proc.stdout, proc.stdout + proc.stderr


def test_the_fixture_sweeps_the_seeds_it_is_asked_for(iommu_stress):
    """In this process (the plugin is this suite's too), from a sync test: `seeds` is
    the sweep's number of seeds when neither --stress-seeds nor a marker sets it."""
    summary = iommu_stress(str(DEFAULT), seeds=3)
    assert summary.clean and summary.data["seeds_run"] == 3


@pytest.mark.trio
async def test_the_fixture_sweeps_from_an_async_test_too(iommu_stress):
    """A pytest-trio test: the sweep runs its own Trio loop in a thread of its own."""
    summary = iommu_stress(str(DEFAULT), seeds=2)
    assert summary.clean and summary.data["seeds_run"] == 2
