"""The lanes of a timeline, shared by the terminal, the HTML page and Perfetto: one per
actor, then the target's own (`Target.timeline`: e.g. one per device and per group, with
their windows and values), reduced to what the filters keep."""

from __future__ import annotations

from typing import Any


def lanes(chosen: list[dict[str, Any]], timeline: dict[str, Any], *, actor: str | None = None,
          gdev: str | None = None) -> list[dict[str, Any]]:
    """The actors of the `chosen` events, then the target's lanes: with `gdev`, that
    device and its group; with `actor`, the devices its events name and their groups."""
    out = [{"track": a, "kind": "actor", "label": a}
           for a in dict.fromkeys(e["actor"] for e in chosen if e["actor"])]
    own = timeline.get("lanes", [])
    if gdev is not None or actor is not None:
        named = {gdev} if gdev is not None else {e.get("gdev") for e in chosen}
        groups = {lane["group"] for lane in own if lane["track"] in named}
        own = [lane for lane in own if lane["track"] in named
               or lane["kind"] != "device" and lane.get("group") in groups]
    return out + own
