"""What a timeline of an IOMMU log shows besides the actors' own events: per device its
reset windows (in hardware reset; blocked by the core) and its `blocked`/`reset_depth`
as they change, per group its `recovery_cnt` (or `resetting_domain` before S3)."""

from __future__ import annotations

from typing import Any


def timeline(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    windows: list[dict[str, Any]] = []
    series: list[dict[str, Any]] = []
    open_: dict[tuple[str, str], int] = {}
    last: dict[str, Any] = {}

    def start(track: str, kind: str, step: int) -> None:
        open_.setdefault((track, kind), step)

    def end(track: str, kind: str, step: int) -> None:
        began = open_.pop((track, kind), None)
        if began is not None:
            windows.append({"track": track, "kind": kind, "start": began, "end": step})

    def value(track: str, step: int, v: Any) -> None:
        if last.get(track, object()) != v:
            last[track] = v
            series.append({"track": track, "step": step, "value": v})

    for ev in events:
        name, step = ev["event"], ev["step"]
        if name == "hw.reset.begin" and ev["depth"] == 1:
            start(ev["gdev"], "in reset", step)
        elif name == "hw.reset.end" and ev["depth"] == 0:
            end(ev["gdev"], "in reset", step)
        elif name == "iommu.prepare.exit" and ev.get("path") == "fenced":
            start(ev["gdev"], "blocked", step)
        elif name == "iommu.done.exit" and ev.get("path") == "restored":
            end(ev["gdev"], "blocked", step)
        if "gdevs" in ev and "group" in ev:
            group = ev["group"]
            if "recovery_cnt" in ev:
                value(f"{group}.recovery_cnt", step, ev["recovery_cnt"])
            else:
                value(f"{group}.resetting_domain", step, ev["resetting_domain"])
            for gdev, g in ev["gdevs"].items():
                if g:
                    value(gdev, step, "B" + str(g.get("reset_depth", "")) if g.get("blocked")
                          else ".")
    final = events[-1]["step"] if events else 0
    for (track, kind), began in sorted(open_.items()):
        windows.append({"track": track, "kind": kind, "start": began, "end": final,
                        "open": True})
    return {"windows": windows, "series": series}
