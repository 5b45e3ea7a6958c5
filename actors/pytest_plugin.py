"""The pytest plugin of iommu-stress (entry point `pytest11`, installed with the
package; from a checkout without the install: `pytest -p actors.pytest_plugin`).

- `iommu_model(*devices, version=None, plugin=None, **options)`: a fixture that builds
  the sequential model of actors/model.py (`Machine`: `kernel`, `dev(name)`,
  `events(...)`, `warns()`) for directed tests.
- `iommu_stress(config, seeds=None)`: a fixture that sweeps a scenario under the
  controlled scheduler with every checker on and fails the test with the checker, the
  step, the violation, the artifact, the log and the `iommu-stress replay` command.
  `config` is a path, a dict of the config's tables (an actor may be
  `{"fn": an_async_function, "target": "dev"}`: a module-level
  `async def fn(world, pdev)`) or the config model.
- `--stress-seeds N`, `--stress-version V`, `--stress-plugin P`, `--stress-out DIR`, and
  the marker `@pytest.mark.stress(seeds=, version=, plugin=)` (the options win).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

import pytest

from stress import testing


def pytest_addoption(parser: pytest.Parser) -> None:
    testing.addoption(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", testing.MARKER)


@pytest.fixture(autouse=True)
def _calibrated_afresh(request: pytest.FixtureRequest) -> Any:
    """A test that monkeypatches the model calibrates the patched model (the portfolio's
    weights, PCT's bound): what it learned must not reach the next test's runs."""
    yield
    if "monkeypatch" in request.fixturenames:
        from stress.run import forget_learned
        forget_learned()


@pytest.fixture
def iommu_model(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """`iommu_model(*devices, version=None, plugin=None, **options)`: actors.model.build,
    its version and plugin defaulting to the test's stress settings, else vf."""
    from actors.model import build

    s = testing.settings(request)

    def make(*devices: dict[str, Any], version: str | None = None, plugin: str | None = None,
             **options: Any) -> Any:
        return build(version or s.version, *devices, plugin=plugin or s.plugin, **options)
    return make


@pytest.fixture
def iommu_stress(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """`iommu_stress(config, seeds=None)` -> stress.api.Summary of a clean sweep; any
    failure fails the test (see the module's docstring)."""
    from actors.target import TARGET

    runner = testing.Runner(TARGET, testing.settings(request),
                            testing.out_folder(request, tmp_path))

    def stress(config: Any, seeds: int | None = None) -> Any:
        return runner(scenario(config), seeds)
    return stress


def scenario(config: Any) -> Any:
    """A dict config whose actors may hold async functions: each becomes a `function`
    actor named by its file and name, so that a replay in another process finds it."""
    if not isinstance(config, dict):
        return config
    actors = [{"kind": "function", **a, "fn": function_spec(a["fn"])}
              if isinstance(a, dict) and callable(a.get("fn")) else a
              for a in config.get("actor", [])]
    return {**config, "actor": actors}


def function_spec(fn: Callable[..., Any]) -> str:
    """`/abs/file.py:name` of a module-level async function."""
    if not inspect.iscoroutinefunction(fn) or fn.__qualname__ != fn.__name__:
        raise TypeError(f"{fn!r}: an actor function must be a module-level `async def` "
                        "(a replay imports it from its file by name)")
    return f"{Path(inspect.getsourcefile(fn) or '').resolve()}:{fn.__name__}"
