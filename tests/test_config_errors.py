"""Bad input exits 2 with the file, the key and what was expected; nothing is written."""

from __future__ import annotations

import ast

import pytest

from tests.helpers import DEFAULT, ROOT, cli, load

BASE = DEFAULT.read_text()
ALIAS = (ROOT / "configs" / "dma-alias.toml").read_text()  # fn1 is an alias of fn0
FN2 = '\n[[group.device]]\nname = "fn2"\nflr = true\n'  # a third device after fn1


def _plugin(spec):
    return lambda t: t.replace('version = "vf"', f'version = "vf"\nplugin = "{spec}"')


def _fails(tmp_path, text):
    """Run `text` as a config: exit 2, nothing written; returns (stderr, path)."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = tmp_path / "out"
    proc = cli("run", str(path), "--out", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert not out.exists()
    return proc.stderr, path


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
     "unknown key; expected one of: target, count, iterations, weights, think, kind, mode, pasid"),
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


@pytest.mark.parametrize("base,edit,key,expected", [
    ("alias", lambda t: t.replace('dma_alias_of = "fn0"', 'dma_alias_of = "fn1"'),
     "group[0].device[1].dma_alias_of",
     "'fn1' cannot be a DMA alias of itself; expected another device of this group"),
    ("alias", lambda t: t.replace('"fn0"\nflr = true', '"fn0"\nflr = true\ndma_alias_of = "fn1"'),
     "group[0].device[0].dma_alias_of", "'fn0' -> 'fn1' -> 'fn0' is a cycle; expected a chain "
     "that ends at a device without dma_alias_of"),
    ("alias", lambda t: t.replace('"fn0"\nflr = true', '"fn0"\nflr = true\ndma_alias_of = "fn2"')
     .replace('"fn0"\n\n[[actor]]', '"fn0"\n' + FN2 + 'dma_alias_of = "fn1"\n\n[[actor]]', 1),
     "group[0].device[0].dma_alias_of", "'fn0' -> 'fn2' -> 'fn1' -> 'fn0' is a cycle"),
    ("default", lambda t: t + '\n[checks]\ndisable = ["I3", "I99"]\n', "checks.disable[1]",
     "unknown checker 'I99'; expected one of: I1, I2, I3, I4, I5, I6, I7, I8, I9, I10, I11, "
     "I12, I13, I14, I15, I16, I17, I18, B14, oops"),
    ("default", lambda t: t + '\n[checks]\nexpect_warn = ["pci_dev_reset_iommu_done", '
     '"pci_reset_done:re-entry"]\n', "checks.expect_warn[1]",
     "unknown WARN site 'pci_reset_done'; expected \"site\" or \"site:cond\" with a site of: "
     "iommu_remove_dev_pasid, __iommu_set_group_pasid, pci_dev_reset_iommu_prepare"),
    ("default", lambda t: t + '\n[checks]\nexpect_warn = ["no_such_site"]\n',
     "checks.expect_warn[0]", "unknown WARN site 'no_such_site'"),
    ("default", lambda t: t[:t.index("[[actor]]")], "actor",
     'at least one [[actor]] is needed, or nothing runs; expected e.g. [[actor]] with kind = '
     '"reset" and target = one of: cxl0, nic0'),
    ("default", lambda t: t.replace(
        "[[actor]]", '[[group]]\nname = "group0"\n[[group.device]]\nname = "x0"\n\n[[actor]]', 1),
     "group[1].name", "group 'group0' is defined twice"),
    ("default", lambda t: t.replace("flr = true", 'flr = true\nreset_methods = ["pm", "flr"]'),
     "group[0].device[1].reset_methods",
     "'nic0' cannot do pm; expected some of what its capabilities probe to: flr, bus"),
    ("default", lambda t: t.replace("flr = true", "flr = true\nreset_methods = []"),
     "group[0].device[1].reset_methods",
     "empty; expected some methods, or no key for what the device probes to"),
    ("default", _plugin("tests.plugins.raises_at_import:Patched"), "model.plugin",
     "cannot load 'tests.plugins.raises_at_import:Patched': RuntimeError: no such driver on "
     "this machine"),
    ("default", _plugin("tests.plugins.nope:Patched"), "model.plugin",
     "cannot load 'tests.plugins.nope:Patched': ModuleNotFoundError: No module named "
     "'tests.plugins.nope'; expected \"FILE.py:Class\" or \"module:Class\" (a module in the "
     "config's folder, or installed, or on PYTHONPATH)"),
    ("default", _plugin("tests.plugins.bad_init"), "model.plugin",
     "'tests.plugins.bad_init'; expected \"FILE.py:Class\" or \"module:Class\""),
    ("default", _plugin("tests.plugins.bad_init:RaisesInInit"), "model.plugin",
     "'tests.plugins.bad_init:RaisesInInit' raised building the machine: ValueError: cannot "
     f"patch variant mainline (in __init__, {ROOT}/tests/plugins/bad_init.py:11)"),
    ("default", _plugin("tests.plugins.bad_init:RaisesAtProbe"), "model.plugin",
     "'tests.plugins.bad_init:RaisesAtProbe' raised building the machine: KeyError: 'cxl0' "
     f"(in add_device, {ROOT}/tests/plugins/bad_init.py:18)"),
])
def test_config_that_would_fail_in_the_run_exits_2(tmp_path, base, edit, key, expected):
    """Most of these used to pass validation and then crash, or silently check nothing,
    when the machine was built or the checkers ran."""
    stderr, path = _fails(tmp_path, edit({"default": BASE, "alias": ALIAS}[base]))
    assert f"{path}: {key}: {expected}" in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_plugin_with_a_syntax_error_names_file_and_line(tmp_path):
    stderr, path = _fails(tmp_path, _plugin("tests.plugins.bad_syntax:Patched")(BASE))
    assert f"{path}: model.plugin: cannot load 'tests.plugins.bad_syntax:Patched': " \
           "SyntaxError: " in stderr
    assert f"({ROOT}/tests/plugins/bad_syntax.py:6)" in stderr
    assert "Traceback" not in stderr


def test_alias_order_does_not_matter_and_chains_share_the_root_rid(tmp_path):
    """An alias listed before its device, and an alias of an alias: all share the
    requester ID of the device at the end of the chain."""
    from actors.world import World
    from iommu.runtime import Sequential

    fn0 = '[[group.device]]\nname = "fn0"\nflr = true\n\n'
    first = ALIAS.replace(fn0, "").replace("[[actor]]", fn0 + "[[actor]]", 1)
    assert first.index('dma_alias_of = "fn0"') < first.index('name = "fn0"')
    path = tmp_path / "alias-first.toml"
    path.write_text(first)
    proc = cli("run", str(path), "--out", str(tmp_path / "out"), "--seeds", "3")
    assert proc.returncode in (0, 1), proc.stderr  # B13 may be found; no traceback
    assert "Traceback" not in proc.stderr and (tmp_path / "out" / "summary.json").exists()
    path.write_text(ALIAS.replace('"fn0"\nflr = true', '"fn0"\nflr = true\ndma_alias_of = "fn2"')
                    .replace('"fn0"\n\n[[actor]]', '"fn0"\n' + FN2 + "\n[[actor]]", 1))
    world = World(load(path), Sequential())
    assert {n: p.dev.rid for n, p in world.pdevs.items()} == {"fn0": "fn2", "fn1": "fn2",
                                                            "fn2": "fn2"}


def test_expect_warn_follows_the_plugin_warn_sites():
    """A plugin may add WARN sites of its own; expect_warn is checked against the class
    actually used."""
    from stress.config import ConfigError
    expect = {"checks.expect_warn": ["my_patch_site:cond"]}
    config = load(**{"model.plugin": "tests.plugins.bad_init:ExtraWarn"}, **expect)
    assert config.checks.expect_warn == ["my_patch_site:cond"]
    with pytest.raises(ConfigError, match="unknown WARN site 'my_patch_site'"):
        load(**expect)


def test_warn_sites_registry_matches_the_warn_calls():
    """Kernel.WARN_SITES is every site a `.warn(` in iommu/ can pass, in file order, and
    nothing else. A site passed on through a parameter (the alias-unblock WARN) counts
    at the calls of the function that forwards it."""
    from iommu.pci import Kernel

    def calls(tree, name):
        return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute) and n.func.attr == name]

    trees = {p.name: ast.parse(p.read_text()) for p in sorted((ROOT / "iommu").glob("*.py"))}
    sites, forwarded = [], {}  # forwarded: function -> position of its site argument
    for file, tree in trees.items():
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            params = [a.arg for a in fn.args.args if a.arg != "self"]
            for call in calls(fn, "warn"):
                site = call.args[0]
                if isinstance(site, ast.Constant):
                    sites.append((file, site.lineno, site.value))
                else:
                    assert isinstance(site, ast.Name) and site.id in params, \
                        f"{file}:{call.lineno}: a WARN site that is neither a literal nor a " \
                        "parameter; add its values to WARN_SITES and to this test"
                    forwarded[fn.name] = params.index(site.id)
    assert forwarded, "the alias-unblock WARN passes its site on: not found"
    for file, tree in trees.items():
        for name, i in forwarded.items():
            for call in calls(tree, name):
                assert isinstance(call.args[i], ast.Constant), f"{file}:{call.lineno}"
                sites.append((file, call.lineno, call.args[i].value))
    used = tuple(dict.fromkeys(site for _, _, site in sorted(set(sites))))
    assert set(used) - set(Kernel.WARN_SITES) == set(), "WARN sites missing in WARN_SITES"
    assert set(Kernel.WARN_SITES) - set(used) == set(), "WARN_SITES names no call uses"
    assert Kernel.WARN_SITES == used, "keep WARN_SITES in the order the sites appear"


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
    assert "error: --version: unknown version 'v9'; expected one of: v0," in proc.stderr
    proc = cli("run", "--seeds", "0", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "error: --seeds: Input should be greater" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_config_reference_is_current():
    """configs/README.md is made from the models; regenerate it when they change."""
    from actors import configdoc
    from tests.helpers import ROOT
    assert (ROOT / "configs" / "README.md").read_text() == configdoc.render(), \
        "run: python -m actors.configdoc > configs/README.md"


def test_every_config_key_says_what_it_means():
    """A key without a description would show an empty cell in configs/README.md (so
    configdoc's fallback for one is never taken: a mutant of it survives, harmlessly)."""
    from actors import configdoc

    rows = [line for line in configdoc.render().splitlines()
            if line.startswith("| `")]
    meanings = [row.rstrip().removesuffix("|").rsplit("|", 1)[1].strip() for row in rows]
    assert rows and all(meanings), [row for row, m in zip(rows, meanings) if not m]
