"""Writes configs/README.md: `python -m actors.configdoc > configs/README.md`."""

from __future__ import annotations

from actors import config as c
from stress import config as s
from stress.configdoc import document

INTRO = """# Config reference

A config is a TOML file; `iommu-stress run CONFIG` validates it before anything runs,
and every error names the file, the key and what was expected. Unknown keys are errors.
Command-line options (`--seeds`, `--seed-start`, `--version`, `--strategy`,
`--pct-depth`, `--workers`) override the matching keys. Made from the config models
(`python -m actors.configdoc > configs/README.md`); a test keeps it current.

Sections: `[run]`, `[model]`, `[timing]`, `[[group]]` with `[[group.device]]`, `[[actor]]`,
`[faults]` (fault site = probability 0..1 that a call there fails: `blocking_domain_alloc`,
`attach_dev`, `set_dev_pasid`, `pci_dev_wait`, `default_domain`, `dma_init_fq`), `[swarm]`,
`[checks]`."""

SECTIONS = [
    ("[run]", s.RunSection, ()),
    ("[model]", c.ModelSection, ()),
    ("[timing]", c.IommuTiming, ()),
    ("[[group]]", c.GroupSection, ()),
    ("[[group.device]]", c.DeviceSection, ()),
    ("[[actor]]: every kind", c.ActorBase, ()),
    *[(f"[[actor]] kind = \"{cls.model_fields['kind'].annotation.__args__[0]}\"", cls,
       tuple(c.ActorBase.model_fields) + ("kind",)) for cls in c.ACTOR_CLASSES],
    ("[swarm]", s.SwarmSection, ()),
    ("[checks]", s.ChecksSection, ()),
]


def render() -> str:
    text = document(SECTIONS, INTRO)
    ops = ["", "### Optional operations (`weights` keys and their default chance)", ""]
    for cls in c.ACTOR_CLASSES:
        if cls.OPS:
            kind = cls.model_fields["kind"].annotation.__args__[0]
            ops.append(f"- `{kind}`: " + ", ".join(f"`{k}` {v}" for k, v in cls.OPS.items()))
    return text + "\n".join(ops) + "\n"


if __name__ == "__main__":
    print(render(), end="")
