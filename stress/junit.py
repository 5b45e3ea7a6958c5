"""`run --junit FILE`: a sweep as JUnit XML, so that CI systems show its results
natively: one test case per failure group (kind, checker, site) and one for the clean
seeds; a step bound hit is a failure only where the sweep fails on it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from stress.text import counted


def junit(summary: dict[str, Any], name: str, step_bound_fails: bool) -> bytes:
    suite = ET.Element("testsuite", name=name)
    failing = 0
    for k in summary["failure_kinds"]:
        what = " ".join(str(x) for x in (k["kind"], k.get("check"), k.get("site")) if x)
        case = ET.SubElement(suite, "testcase", classname=name, name=what)
        seeds = [f for f in summary["failures"] if (f["kind"], f.get("check"), f.get("site"))
                 == (k["kind"], k.get("check"), k.get("site"))]
        first = seeds[0] if seeds else {}
        failure = ET.SubElement(case, "failure", type=str(k["kind"]), message=(
            f"{counted(k['count'], 'seed')}, first seed {k['first_seed']}: "
            f"{first.get('message', '')}"))
        failure.text = "\n".join(
            f"seed {f['seed']} step {f.get('step')}: {f.get('message', '')}"
            + (f" (artifact {f['artifact']})" if f.get("artifact") else "") for f in seeds)
        failing += 1
    bound = summary.get("step_bound_seeds") or []
    if bound:
        case = ET.SubElement(suite, "testcase", classname=name, name="step bound")
        text = "seeds " + ", ".join(str(b["seed"]) for b in bound) + " reached run.max_steps"
        if step_bound_fails:
            ET.SubElement(case, "failure", type="step_bound", message=text)
            failing += 1
        else:
            ET.SubElement(case, "system-out").text = text + " (a warning: --fail-on-step-bound)"
    failed = {f["seed"] for f in summary["failures"]} | {b["seed"] for b in bound}
    clean = summary["seeds_run"] - len(failed)
    case = ET.SubElement(suite, "testcase", classname=name, name="clean seeds")
    ET.SubElement(case, "system-out").text = f"{counted(clean, 'seed')} ran clean"
    errors = summary.get("harness_errors") or []
    if errors:
        ET.SubElement(case, "error", message=f"{counted(summary.get('seeds_lost', 0), 'seed')} "
                      "lost to harness errors")
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failing))
    suite.set("errors", str(1 if errors else 0))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
