"""The HTML page of `inspect --html`, in a real browser: Playwright driving the system's
Chromium (nothing downloaded). On a 9-actor all-actors log, a 2-actor v0 log that fails
and a deadlock log: a lane per actor, device and group; every event a glyph that a click
reaches and that shows its fields; the failure in view on load with arrows to what set
it up; filters; labels that stay in view; the URL anchors."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from actors.target import TARGET
from stress import html, inspect
from tests import viewer_logs

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and shutil.which(p)),
                None)
DATA = re.compile(r'<script type="application/json" id="data">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    out = {}
    for name in viewer_logs.LOGS:
        events = viewer_logs.read(viewer_logs.write(name, folder))
        path = folder / f"{name}.html"
        path.write_text(html.page(events, TARGET.timeline(events), f"iommu-stress: {name}"))
        out[name] = (path, events)
    return out


def test_the_page_carries_every_event_and_is_self_contained(pages):
    path, events = pages["v0"]
    text = path.read_text()
    for resource in ("<link", "src=", "@import", "https://"):
        assert resource not in text
    assert set(re.findall(r"url\((.)", text)) == {"#"}  # the arrowhead, in the page
    assert set(re.findall(r"http://[^'\"]*", text)) == {"http://www.w3.org/2000/svg"}
    data = json.loads(DATA.findall(text)[0].replace("<\\/", "</"))
    assert data["events"] == [{k: v for k, v in e.items() if k != "_line"} for e in events]
    fail = next(i for i, e in enumerate(events) if e["event"] == "check.fail")
    assert data["failure"] == fail
    # What set up v0's re-entry WARN on cxl0: the sibling nic0's prepare, and its reset.
    setup = [(events[s["index"]]["event"], events[s["index"]]["gdev"]) for s in data["setup"]]
    assert setup == [("iommu.prepare.exit", "nic0"), ("hw.reset.begin", "nic0")]


def test_a_closing_tag_in_an_event_stays_data(pages):
    _, events = pages["v0"]
    events = [dict(e) for e in events]
    events[0]["note"] = "</script><script>alert(1)</script>"
    page = html.page(events, TARGET.timeline(events), "t </script><b>x</b> & y")
    data = json.loads(DATA.findall(page)[0].replace("<\\/", "</"))
    assert data["events"][0]["note"] == events[0]["note"]
    assert "</script><b>" not in page and "t &lt;/script>&lt;b>x&lt;/b> &amp; y" in page


try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - where the test extra is not installed
    sync_playwright = None

needs_browser = pytest.mark.skipif(
    sync_playwright is None or CHROMIUM is None,
    reason="needs playwright (pip install playwright) and a Chromium (apt-get install "
           "chromium); the browser is never downloaded")


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser, path, anchor=""):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"file://{path}{anchor}")
    page.wait_for_selector("g.lane")
    assert errors == []
    return page


# Where a glyph is on screen, after the page scrolled it to the middle; and what is there.
HIT = """i => { reveal_(i); const g = document.getElementById('ev' + i);
  const r = g.querySelector('.shape').getBoundingClientRect();
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  const top = document.elementFromPoint(x, y);
  return [x, y, top && top.closest('.ev') ? top.closest('.ev').id : null]; }"""


def _lanes(page, kind):
    return page.locator(f"g.lane[data-kind={kind}]").count()


@needs_browser
@pytest.mark.parametrize("name", list(viewer_logs.LOGS))
def test_every_event_is_a_glyph_a_click_reaches_and_shows(browser, pages, name):
    path, events = pages[name]
    page = _open(browser, path)
    timeline = TARGET.timeline(events)
    actors = list(dict.fromkeys(e["actor"] for e in events if e["actor"]))
    assert _lanes(page, "actor") == len(actors)
    assert _lanes(page, "device") == sum(lane["kind"] == "device" for lane in timeline["lanes"])
    assert _lanes(page, "group") == sum(lane["kind"] == "group" for lane in timeline["lanes"])
    assert page.locator(".lane-label").count() == page.locator("g.lane").count()
    drawn = [i for i, e in enumerate(events) if e["event"] != "sched.pick"]
    assert page.locator("g.ev").count() == len(drawn)
    for i in drawn:
        x, y, hit = page.evaluate(HIT, i)
        assert hit == f"ev{i}", (i, events[i]["event"], hit)  # nothing covers it
        page.mouse.click(x, y)
        shown = json.loads(page.inner_text("#detail"))
        assert shown == {k: v for k, v in events[i].items() if k != "_line"}
    # No glyph's box (its shape and label) overlaps another's.
    overlaps = page.evaluate("""() => {
      const boxes = [...document.querySelectorAll('g.ev')].map(g => g.getBoundingClientRect());
      let n = 0;
      for (let a = 0; a < boxes.length; a++) for (let b = a + 1; b < boxes.length; b++) {
        const p = boxes[a], q = boxes[b];
        if (p.left < q.right - 1 && q.left < p.right - 1 &&
            p.top < q.bottom - 1 && q.top < p.bottom - 1) n++;
      }
      return n; }""")
    assert overlaps == 0


@needs_browser
@pytest.mark.parametrize("name", ["v0", "deadlock"])
def test_the_failure_is_in_view_on_load_with_arrows_to_its_setup(browser, pages, name):
    path, events = pages[name]
    page = _open(browser, path)
    fail = next(i for i, e in enumerate(events) if e["event"] in ("check.fail", "run.fail"))
    inside = page.evaluate("""i => {
      const r = document.getElementById('ev' + i).getBoundingClientRect();
      const v = document.getElementById('scroll').getBoundingClientRect();
      const x = r.left + 4, y = r.top + r.height / 2, top = document.elementFromPoint(x, y);
      return r.left >= v.left + 190 && r.right <= v.right && r.top >= v.top + 36 &&
             r.bottom <= v.bottom && !!top && !!top.closest('#ev' + i); }""", fail)
    assert inside
    assert json.loads(page.inner_text("#detail"))["event"] == events[fail]["event"]
    assert (events[fail].get("check") or events[fail]["kind"]) in page.inner_text("#failure")
    setup = inspect.setup_of(events, TARGET.timeline(events), fail)
    arrows = page.eval_on_selector_all("path.arrow", "ps => ps.map(p => +p.dataset.to)")
    assert arrows == [s["index"] for s in setup]
    first = {"v0": "iommu.prepare.exit", "deadlock": "lock.acquire"}[name]
    assert arrows and events[arrows[0]]["event"] == first
    page.locator("#links a").first.click()  # one click to the step that set it up
    assert json.loads(page.inner_text("#detail"))["event"] == first


@needs_browser
def test_filters_hide_what_they_should(browser, pages):
    path, events = pages["all-actors"]
    page = _open(browser, path)
    lanes = page.locator("g.lane").count()
    page.check("input[data-kind=actor][value='reset.fn1']", trial=True)
    page.uncheck("input[data-kind=actor][value='reset.fn1']")
    assert page.locator("g.lane").count() == lanes - 1
    shown = page.eval_on_selector_all("g.ev", "gs => gs.map(g => +g.dataset.i)")
    assert shown and not any(events[i]["actor"] == "reset.fn1" for i in shown)
    page.uncheck("input[data-kind=event][value='lock.acquire']")
    assert page.locator("g.ev[data-event='lock.acquire']").count() == 0
    assert page.locator("g.ev[data-event='lock.release']").count() > 0
    page.uncheck("input[data-kind=device][value='hinic0']")
    assert page.locator("g.lane[data-track='hinic0']").count() == 0
    shown = page.eval_on_selector_all("g.ev", "gs => gs.map(g => +g.dataset.i)")
    assert not any(events[i].get("gdev") == "hinic0" for i in shown)
    page.check("input[data-kind=actor][value='reset.fn1']")
    assert page.locator("g.lane[data-track='reset.fn1']").count() == 1


@needs_browser
def test_labels_stay_in_view_and_zoom_pan_and_anchors(browser, pages):
    path, events = pages["all-actors"]
    page = _open(browser, path)
    width = float(page.get_attribute("#svg", "width"))
    page.click("#zoomin")
    page.click("#zoomin")
    assert float(page.get_attribute("#svg", "width")) > width * 1.8  # 1.5 x 1.5 the steps
    page.evaluate("() => { const s = document.getElementById('scroll'); "
                  "s.scrollLeft = s.scrollWidth; }")
    lefts = page.eval_on_selector_all(".lane-label",
                                      "ls => ls.map(l => l.getBoundingClientRect().left)")
    assert lefts and set(lefts) == {page.evaluate(
        "() => document.getElementById('scroll').getBoundingClientRect().left")}
    page.close()
    page = _open(browser, path, "#steps=100:150")
    assert page.inner_text("#range").startswith("steps 100\u2013")
    last = int(page.inner_text("#range").split("\u2013")[1].split()[0])
    assert 150 <= last <= 180  # A..B in view, and room for the labels of the last steps
    page.close()
    pick = next(i for i, e in enumerate(events) if e["event"] == "hw.reset.begin")
    page = _open(browser, path, f"#select={pick}")
    assert json.loads(page.inner_text("#detail"))["step"] == events[pick]["step"]
    assert "ev" + str(pick) in page.eval_on_selector_all("g.ev.sel", "gs => gs.map(g => g.id)")
