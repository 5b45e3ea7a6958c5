"""The HTML page of a log: one self-contained file (its data, style and script inline; no
network), drawn by stress/page.js in the browser."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import orjson

from stress.inspect import failure_of, setup_of


def page(events: list[dict[str, Any]], timeline: dict[str, Any], title: str) -> str:
    fail = failure_of(events)
    index = next(i for i, e in enumerate(events) if e is fail) if fail is not None else None
    clean = [{k: v for k, v in e.items() if k != "_line"} for e in events]
    data = orjson.dumps({"events": clean, "timeline": timeline, "failure": index,
                         "setup": setup_of(events, timeline, index) if fail else []}).decode()
    here = files("stress")
    script = (here / "page.js").read_text()
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;")
    return ((here / "page.html").read_text().replace("__TITLE__", safe_title)
            .replace("__SCRIPT__", script.replace("</", "<\\/"))
            .replace("__DATA__", data.replace("</", "<\\/")))
