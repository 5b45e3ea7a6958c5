"""Bad input exits 2 with the file, the key and what was expected; nothing is written."""

from __future__ import annotations

import pytest

from tests.helpers import DEFAULT, cli

BASE = DEFAULT.read_text()


@pytest.mark.parametrize("edit,key,expected", [
    (lambda t: t.replace("[run]\n", "[run]\nsedes = 3\n"), "run.sedes",
     "unknown key; expected one of: seeds, seed_start"),
    (lambda t: t.replace('ats = true\ncxl = true', 'ats = "yes"\ncxl = true'),
     "group[0].device[0].ats", "valid boolean"),
    (lambda t: t.replace('target = "nic0"', 'target = "nic9"'), "actor[1].target",
     "no device named 'nic9'; expected one of: cxl0, nic0"),
    (lambda t: t.replace('version = "vf"', 'version = "v9"'), "model.version",
     "unknown version 'v9'; expected one of: v0, s1"),
    (lambda t: t.replace('kind = "vfio"', 'kind = "vfoo"'), "actor[1].kind",
     "actor[1].kind: unknown value 'vfoo'; expected one of: 'driver', 'reset', 'cxl_reset'"),
    (lambda t: t.replace("iterations = 3", "iterations = 3\nweight = 2"), "actor[1].weight",
     "unknown key; expected one of: target, count, iterations, weights, kind, mode, pasid"),
    (lambda t: t.replace("seeds = 200", "seeds = -4"), "run.seeds",
     "greater than or equal to 1"),
    (lambda t: t.replace("iterations = 3", "iterations = 3\nweights = {replce = 0.5}"),
     "actor[1].weights.replce", "unknown operation of vfio; expected one of: replace, pasid"),
    (lambda t: t.replace("iterations = 3", "iterations = 3\nweights = {replace = 2.0}"),
     "actor[1].weights.replace", "less than or equal to 1"),
    (lambda t: t.replace('kind = "cxl_reset"', 'kind = "quirk_reset"'), "actor[0].target",
     "quirk_reset needs a device with a quirk; 'cxl0' is not"),
])
def test_bad_config_exits_2_naming_file_key_and_expectation(tmp_path, edit, key, expected):
    path = tmp_path / "bad.toml"
    path.write_text(edit(BASE))
    out = tmp_path / "out"
    proc = cli("run", str(path), "--out", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{path}: {key}: " in proc.stderr
    assert expected in proc.stderr
    assert not out.exists()


def test_not_toml_and_missing_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[run\nseeds = 1\n")
    proc = cli("run", str(path), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and f"{path}: not valid TOML" in proc.stderr
    proc = cli("run", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "nope.toml: cannot read" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_bad_command_line_value_names_the_option(tmp_path):
    proc = cli("run", "--version", "v9", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "model.version: unknown version 'v9'" in proc.stderr
    proc = cli("run", "--seeds", "0", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "run.seeds" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_config_reference_is_current():
    """configs/README.md is made from the models; regenerate it when they change."""
    from actors import configdoc
    from tests.helpers import ROOT
    assert (ROOT / "configs" / "README.md").read_text() == configdoc.render(), \
        "run: python -m actors.configdoc > configs/README.md"
