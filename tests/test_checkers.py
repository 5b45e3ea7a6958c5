"""Each checker of docs/kernel.md §8 against a hand-written event sequence that breaks it and one
that does not; and the offline check of saved logs."""

from __future__ import annotations

import json

import pytest


from iommu import invariants as inv
from stress import logfile
from stress.target import Dispatch
from tests.helpers import cli


def ev(event, step=1, actor="a", **fields):
    return {"seed": 0, "step": step, "vt": 0.0, "actor": actor, "event": event, **fields}


def state(event, gdevs, step=1, actor="a", recovery_cnt=None, resetting=None, domain="g.default",
          blocking="blocked", pasids=None, **fields):
    s = {"group": "g", "domain": domain, "default": "g.default", "blocking": blocking,
         "pasids": pasids or {}, "gdevs": gdevs}
    if recovery_cnt is not None:
        s["recovery_cnt"] = recovery_cnt
    else:
        s["resetting_domain"] = resetting
    return ev(event, step, actor, **fields, **s)


def add(name, rid=None, max_pasids=0, deferred=False, hw="g.default"):
    return ev("iommu.device_add", 0, None, gdev=name, group="g", rid=rid or name, ats=True,
              max_pasids=max_pasids, attach_deferred=deferred, hw=hw, domain="g.default")


def run(checker, events):
    """The first violation of `checker` over `events`, fed as a run feeds it: only the
    events it names (`events`), so a branch for a name it forgot to name fails here."""
    readers = Dispatch([checker])
    for e in events:
        for reader in readers[e["event"]]:
            v = reader.feed(e)
            if v is not None:
                return v
    return None


def test_i1_recovery_count():
    good = [state("iommu.prepare.exit", {"a": {"blocked": True}}, recovery_cnt=1, gdev="a",
                  ret="0", path="fenced")]
    bad = [state("iommu.prepare.exit", {"a": {"blocked": True}, "b": {"blocked": True}},
                 recovery_cnt=1, gdev="b", ret="0", path="fenced")]
    assert run(inv.RecoveryCount(), good) is None
    v = run(inv.RecoveryCount(), bad)
    assert v["check"] == "I1" and v["expected"] == 2 and v["actual"] == 1


def test_i1_v0_analogue_catches_an_unfenced_group():
    prep = state("iommu.prepare.exit", {"a": {}}, resetting="blocked", gdev="a", ret="0",
                 path="fenced")
    sibling_done = state("iommu.done.exit", {"a": {}, "b": {}}, step=2, resetting=None,
                         gdev="b", ret="0", path="restored")  # B10: b closes the group
    own_done = state("iommu.done.exit", {"a": {}}, step=2, resetting=None, gdev="a", ret="0",
                     path="restored")
    assert run(inv.RecoveryCount(), [prep, own_done]) is None
    v = run(inv.RecoveryCount(), [prep, sibling_done])
    assert v["check"] == "I1" and v["open_windows"] == {"a": 1}


def test_i2_depth_flag():
    assert run(inv.DepthFlag(), [state("iommu.x.exit", {"a": {"blocked": True, "reset_depth": 2}},
                                       recovery_cnt=1)]) is None
    v = run(inv.DepthFlag(), [state("iommu.x.exit", {"a": {"blocked": True, "reset_depth": 0}},
                                    recovery_cnt=1)])
    assert v["check"] == "I2" and v["gdev"] == "a"


def test_i3_fence():
    fenced = state("iommu.prepare.exit", {"a": {"blocked": True}}, recovery_cnt=1, gdev="a",
                   ret="0", path="fenced")
    attach = state("iommu.attach_group.exit", {"a": {"blocked": True}}, step=2,
                   recovery_cnt=1, domain="hwpt1", ret="0")
    refused = state("iommu.attach_group.exit", {"a": {"blocked": True}}, step=2,
                    recovery_cnt=1, ret="EBUSY")
    assert run(inv.Fence(), [add("a"), fenced, refused]) is None
    v = run(inv.Fence(), [add("a"), fenced, attach])
    assert v["check"] == "I3" and v["actual"] == "hwpt1"
    pasid = state("iommu.attach_device_pasid.exit", {"a": {"blocked": True}}, step=2,
                  recovery_cnt=1, ret="0", pasid=1)
    assert run(inv.Fence(), [add("a"), fenced, pasid])["pasid"] == 1
    touch = ev("hw.rid_attach", 2, "vfio", gdev="a", domain="g.default", old="x", rid="blocked",
               view="blocked")
    assert run(inv.Fence(), [add("a"), fenced, touch])["check"] == "I3"
    own = [ev("iommu.done.enter", 2, "a", gdev="a"), {**touch, "actor": "a"}]
    assert run(inv.Fence(), [add("a"), fenced, *own]) is None
    # SMMUv3's downgrade at the last SSID's removal: the driver's own re-attach of the
    # blocked STE, not the core's attach_dev, is not I3's business.
    downgrade = ev("hw.rid_attach", 2, "sva", gdev="a", domain="blocked", old="blocked",
                   rid="blocked", view="blocked")
    assert run(inv.Fence(), [add("a"), fenced, downgrade])["check"] == "I3"
    mine = {**downgrade, "caller": "arm_smmu_remove_dev_pasid"}
    assert run(inv.Fence(), [add("a"), fenced, mine]) is None


def test_i3_a_fenced_change_is_refused_with_the_fences_ebusy():
    """I3(a), both halves (docs/kernel.md §8 I3, §5.3): while fenced, a flags-0 call
    asking for another domain returns -EBUSY, cause "reset fence", and group->domain
    does not change. Only the same-domain short-circuit returns 0; a refusal before the
    fence (another cause) is not the fence's business."""
    fenced = state("iommu.prepare.exit", {"a": {"blocked": True}}, recovery_cnt=1, gdev="a",
                   ret="0", path="fenced")
    world = [add("a"), fenced]

    def attach(recovery_cnt=1, **fields):
        return state("iommu.attach_group.exit", {"a": {"blocked": True}}, step=2,
                     actor="v", recovery_cnt=recovery_cnt, **{"new": "hwpt1", **fields})

    refused = attach(ret="EBUSY", cause="reset fence")
    same = attach(ret="0", new="g.default")
    owned = attach(ret="EBUSY", cause="group already attached to another domain")
    for fine in (refused, same, owned):
        assert run(inv.Fence(), [*world, fine]) is None, fine
    # The return half: told it succeeded (nothing changed), or the fence's wrong errno.
    swallowed = run(inv.Fence(), [*world, attach(ret="0")])
    assert swallowed["check"] == "I3" and swallowed["expected"] == "EBUSY"
    assert swallowed["actual"] == "0" and "returned 0" in swallowed["message"]
    again = run(inv.Fence(), [*world, attach(ret="EAGAIN", cause="reset fence")])
    assert again["check"] == "I3" and again["actual"] == "EAGAIN"
    # The domain half: refused, yet group->domain changed.
    moved = run(inv.Fence(), [*world, attach(ret="EBUSY", cause="reset fence",
                                             domain="hwpt1")])
    assert moved["check"] == "I3" and moved["actual"] == "hwpt1"
    # Not fenced: any result is the call's own business.
    calm = state("iommu.done.exit", {"a": {"blocked": False}}, recovery_cnt=0, gdev="a",
                 ret="0", path="restored")
    assert run(inv.Fence(), [add("a"), calm, attach(ret="0", recovery_cnt=0,
                                                    domain="hwpt1")]) is None


def test_i4_physically_fenced():
    blocked_on_blocking = [add("a"), ev("hw.rid_attach", 1, gdev="a", domain="blocked",
                                        old=None, rid="g.default", view="g.default"),
                           state("iommu.prepare.exit", {"a": {"blocked": True}},
                                 recovery_cnt=1, gdev="a", ret="0", path="fenced")]
    assert run(inv.PhysicallyFenced(), blocked_on_blocking) is None
    still_live = [add("a"), state("iommu.prepare.exit", {"a": {"blocked": True}},
                                  recovery_cnt=1, gdev="a", ret="0", path="fenced")]
    v = run(inv.PhysicallyFenced(), still_live)
    assert v["check"] == "I4" and v["actual"] == "g.default"
    pasid = [add("a", max_pasids=8), *blocked_on_blocking[1:2],
             ev("hw.pasid_set", 1, gdev="a", pasid=3, domain="sva", attached=True, old=None,
                prev=None, rid="blocked", view="blocked"), blocked_on_blocking[2]]
    assert run(inv.PhysicallyFenced(), pasid)["actual"] == {3: "sva"}
    # A blocked device whose shared requester ID a DMA alias moved is B13: said so.
    alias = [add("a"), add("b", rid="a"), blocked_on_blocking[1],
             ev("hw.rid_attach", 2, "v", gdev="b", domain="hwpt", old="g.default",
                rid="blocked", view="g.default"),
             state("iommu.detach_group_handle.exit", {"a": {"blocked": True},
                   "b": {"blocked": False}}, step=2, actor="v", recovery_cnt=1,
                   domain="hwpt", ret="0")]
    v = run(inv.PhysicallyFenced(), alias)
    assert v["check"] == "I4" and v["gdev"] == "a" and v["actual"] == "hwpt"
    assert "requester ID (shared with b) is on hwpt" in v["message"]


def test_i5_no_ats_to_a_resetting_device():
    ok = ev("hw.ats_inval", gdev="a", via=None, why="dma unmap", in_reset=False)
    bad = ev("hw.ats_inval", gdev="a", via="b", why="rid", in_reset=True)
    assert run(inv.NoAtsToResetting(), [ok]) is None
    v = run(inv.NoAtsToResetting(), [bad])
    assert v["check"] == "I5" and "via b" in v["message"]
    # A PASID that prepare failed to block because set_dev_pasid was made to fail stays
    # live by design (B15): not judged. A reset that timed out is no such excuse.
    failed = ev("fault", site="set_dev_pasid", gdev="a", domain="blocked", pasid=1)
    assert run(inv.NoAtsToResetting(), [add("a"), failed, bad]) is None
    timeout = ev("fault", site="pci_dev_wait", gdev="a", reset="FLR")
    assert run(inv.NoAtsToResetting(), [add("a"), timeout, bad])["check"] == "I5"


def test_i6_restore():
    done = state("iommu.done.exit", {"a": {"blocked": False}}, step=3, recovery_cnt=0,
                 gdev="a", ret="0", path="restored")
    back = ev("hw.rid_attach", 2, gdev="a", domain="g.default", old="blocked", rid="blocked",
              view="blocked")
    parked = ev("hw.rid_attach", 2, gdev="a", domain="blocked", old="g.default",
                rid="g.default", view="g.default")
    assert run(inv.Restore(), [add("a"), parked, back, done]) is None
    v = run(inv.Restore(), [add("a"), parked, done])
    assert v["check"] == "I6" and v["expected"] == "g.default" and v["actual"] == "blocked"

def test_i6_restore_pasid_clause():
    """The RID is back on group->domain, but PASID 1 of pasid_array is not back on its
    domain on a PASID-capable device."""
    bound = ev("hw.pasid_set", 1, gdev="a", pasid=1, domain="sva", attached=True, old=None,
               prev=None, rid="g.default", view="g.default")
    parked = ev("hw.rid_attach", 2, "r", gdev="a", domain="blocked", old="g.default",
                rid="g.default", view="g.default")
    torn = ev("hw.pasid_set", 2, "r", gdev="a", pasid=1, domain="blocked", attached=False,
              old="sva", prev="sva", rid="blocked", view="blocked")
    back = ev("hw.rid_attach", 3, "r", gdev="a", domain="g.default", old="blocked",
              rid="blocked", view="blocked")
    rebound = ev("hw.pasid_set", 3, "r", gdev="a", pasid=1, domain="sva", attached=True,
                 old="blocked", prev=None, rid="g.default", view="g.default")
    done = state("iommu.done.exit", {"a": {"blocked": False, "reset_depth": 0}}, step=4,
                 actor="r", recovery_cnt=0, gdev="a", ret="0", path="restored",
                 pasids={"1": "sva"})
    window = [add("a", max_pasids=8), bound, parked, torn, back]
    assert run(inv.Restore(), [*window, rebound, done]) is None
    v = run(inv.Restore(), [*window, done])
    assert v["check"] == "I6" and v["gdev"] == "a"
    assert v["expected"] == {1: "sva"} and v["actual"] == {}
    assert "left PASIDs {}" in v["message"]
    # A PASID erased from pasid_array during the window is not restored: no violation.
    assert run(inv.Restore(), [*window, {**done, "pasids": {}}]) is None
    # A device without PASID support is not judged on pasid_array.
    no_pasids = [add("a"), parked, back]
    assert run(inv.Restore(), [*no_pasids, done]) is None


def test_i7_quiescence():
    end = ev("run.end", 9, None, outcome="ok")
    calm = state("iommu.done.exit", {"a": {"blocked": False}}, recovery_cnt=0, gdev="a",
                 ret="0", path="restored")
    stuck = state("iommu.done.exit", {"a": {"blocked": True}}, recovery_cnt=1, gdev="a",
                  ret="0", path="nested")
    assert run(inv.Quiescence(), [add("a"), calm, end]) is None
    assert run(inv.Quiescence(), [add("a"), stuck, end])["check"] == "I7"
    blocked = state("iommu.done.exit", {"a": {"blocked": True}}, recovery_cnt=0, gdev="a",
                    ret="0", path="nested")
    v = run(inv.Quiescence(), [add("a"), blocked, end])
    assert v["check"] == "I7" and v["gdev"] == "a"  # `inspect` focuses on it
    assert run(inv.Quiescence(), [add("a"), stuck, {**end, "outcome": "fail"}]) is None
    # A deferred first attach on the default domain counts as attached.
    assert run(inv.Quiescence(), [add("a", deferred=True, hw=None), calm, end]) is None

def test_i7_requester_id_clause():
    """Every window closed and every flag clear, but the requester ID was left on the
    blocking domain instead of group->domain."""
    end = ev("run.end", 9, None, outcome="ok")
    parked = ev("hw.rid_attach", 2, "r", gdev="a", domain="blocked", old="g.default",
                rid="g.default", view="g.default")
    back = ev("hw.rid_attach", 3, "r", gdev="a", domain="g.default", old="blocked",
              rid="blocked", view="blocked")
    calm = state("iommu.done.exit", {"a": {"blocked": False, "reset_depth": 0}}, step=4,
                 actor="r", recovery_cnt=0, gdev="a", ret="0", path="restored")
    assert run(inv.Quiescence(), [add("a"), parked, back, calm, end]) is None
    v = run(inv.Quiescence(), [add("a"), parked, calm, end])
    assert v["check"] == "I7" and v["group"] == "g" and v["gdev"] == "a"
    assert "a's requester ID is on blocked, g's domain is g.default" in v["message"]
    # A group with no domain (its default domain failed) may leave the RID parked.
    assert run(inv.Quiescence(), [add("a"), parked, {**calm, "domain": None}, end]) is None


def test_i7_pasid_clause():
    """Every window closed and the RID in place, but a PASID-capable device's PASIDs do
    not match pasid_array."""
    end = ev("run.end", 9, None, outcome="ok")
    bound = ev("hw.pasid_set", 2, "s", gdev="a", pasid=1, domain="sva", attached=True,
               old=None, prev=None, rid="g.default", view="g.default")
    calm = state("iommu.done.exit", {"a": {"blocked": False, "reset_depth": 0}}, step=4,
                 actor="r", recovery_cnt=0, gdev="a", ret="0", path="restored",
                 pasids={"1": "sva"})
    assert run(inv.Quiescence(), [add("a", max_pasids=8), bound, calm, end]) is None
    v = run(inv.Quiescence(), [add("a", max_pasids=8), calm, end])
    assert v["check"] == "I7" and v["group"] == "g" and v["gdev"] == "a"
    assert "a has PASIDs {}, pasid_array has {1: 'sva'}" in v["message"]
    # Live in hardware but gone from pasid_array is as wrong.
    v = run(inv.Quiescence(), [add("a", max_pasids=8), bound, {**calm, "pasids": {}}, end])
    assert v["check"] == "I7" and "a has PASIDs {1: 'sva'}, pasid_array has {}" in v["message"]
    # A device without PASID support is not judged on pasid_array.
    assert run(inv.Quiescence(), [add("a"), calm, end]) is None


def test_i8_isolation():
    enter = ev("iommu.done.enter", 1, "r", gdev="a")
    sibling = ev("hw.pasid_set", 2, "r", gdev="b", pasid=1, domain="sva", attached=True,
                 old="blocked", prev=None, rid="g.default", view="blocked")
    own = {**sibling, "gdev": "a"}
    assert run(inv.Isolation(), [add("a"), add("b"), enter, own]) is None
    v = run(inv.Isolation(), [add("a"), add("b"), enter, sibling])
    assert v["check"] == "I8" and v["gdev"] == "b" and v["by"] == "a"
    refused = state("iommu.deferred_attach.exit", {"a": {}, "b": {}}, resetting="blocked",
                    gdev="b", ret="EBUSY", cause="reset fence: group resetting")
    assert run(inv.Isolation(), [add("a"), add("b"), refused])["check"] == "I8"

def test_i8_prepare_refused_because_a_sibling_resets():
    """b's prepare returns -EBUSY while only its sibling a is in a reset window."""
    both = {"a": {"blocked": True, "reset_depth": 1}, "b": {"blocked": False, "reset_depth": 0}}
    a_in = state("iommu.prepare.exit", both, step=1, actor="ra", recovery_cnt=1, gdev="a",
                 ret="0", path="fenced")
    b_refused = state("iommu.prepare.exit", both, step=2, actor="rb", recovery_cnt=1, gdev="b",
                      ret="EBUSY", path="re-entry", cause="re-entry: device blocked")
    v = run(inv.Isolation(), [add("a"), add("b"), a_in, b_refused])
    assert v["check"] == "I8" and v["gdev"] == "b"
    assert v["message"] == "b's reset refused because another device of its group is resetting"
    # a's own nested prepare refused is not an isolation matter (I12/I13 judge it).
    a_nested = {**b_refused, "gdev": "a", "actor": "ra"}
    assert run(inv.Isolation(), [add("a"), add("b"), a_in, a_nested]) is None
    # Nor is b's prepare failing otherwise (its blocking attach failed, -ENOMEM).
    b_nomem = {**b_refused, "ret": "ENOMEM", "path": "failed"}
    assert run(inv.Isolation(), [add("a"), add("b"), a_in, b_nomem]) is None


def test_i9_driver_view():
    enter = ev("iommu.prepare.enter", 1, "r", gdev="a")
    parked = ev("hw.rid_attach", 2, "r", gdev="a", domain="blocked", old="g.default",
                rid="g.default", view="g.default")
    stale = ev("hw.pasid_set", 2, "r", gdev="a", pasid=1, domain="blocked", attached=False,
               old="sva", prev="sva", rid="blocked", view="g.default")
    right = {**stale, "view": "blocked"}
    assert run(inv.DriverView(), [add("a"), enter, parked, right]) is None
    v = run(inv.DriverView(), [add("a"), enter, parked, stale])
    assert v["check"] == "I9" and v["expected"] == "blocked" and v["actual"] == "g.default"
    # On a set_domain path it is judged when the core call returns.
    on_blocked = add("a", hw="blocked")
    attach = ev("hw.rid_attach", 2, "v", gdev="a", domain="hwpt", old="g.default",
                rid="blocked", view="g.default")
    exit_ = ev("iommu.attach_group.exit", 2, "v", ret="0")
    v = run(inv.DriverView(), [on_blocked, attach, exit_])
    assert v["check"] == "I9" and "in attach_group" in v["message"] and v["callback_step"] == 2
    # Two wrong views in one call: the first is the finding, a later one does not replace it.
    again = ev("hw.rid_attach", 3, "v", gdev="a", domain="hwpt2", old="hwpt",
               rid="hwpt", view="g.default")
    v = run(inv.DriverView(), [on_blocked, attach, again, exit_])
    assert v["callback_step"] == 2 and v["expected"] == "blocked"
    # Not judged: a device never attached (hw NONE), a re-add after removal (probe), and
    # the revert after an injected driver failure.
    never = {**attach, "rid": None}
    assert run(inv.DriverView(), [add("a", hw=None), never, exit_]) is None
    probe = ev("iommu.probe_device.exit", 2, "v", ret="0")
    assert run(inv.DriverView(), [on_blocked, attach, probe]) is None
    fault = ev("fault", 2, "v", site="attach_dev", gdev="b", domain="hwpt")
    assert run(inv.DriverView(), [on_blocked, fault, attach, exit_]) is None
    timeout = ev("fault", 2, "v", site="pci_dev_wait", gdev="a", reset="FLR")
    assert run(inv.DriverView(), [on_blocked, timeout, attach, exit_])["check"] == "I9"


def test_i9_dma_aliases_share_a_context_not_a_view():
    """A group-wide domain change on DMA aliases (docs/kernel.md §1.4: one requester ID):
    once fn0 is attached, the shared context is already on the new domain when fn1's
    callback runs, while the core rightly tells the driver fn1 is still on
    group->domain (it has not attached fn1 yet). No reset anywhere: not a violation.
    The view is judged against what the core last attached each device to."""
    aliases = [add("fn0"), add("fn1", rid="fn0")]
    fn0 = ev("hw.rid_attach", 2, "v", gdev="fn0", domain="blocked", old="g.default",
             rid="g.default", view="g.default")
    fn1 = ev("hw.rid_attach", 3, "v", gdev="fn1", domain="blocked", old="g.default",
             rid="blocked", view="g.default")
    claim = state("iommu.device_claim_dma_owner.exit", {"fn0": {"blocked": False},
                  "fn1": {"blocked": False}}, step=3, actor="v", recovery_cnt=0,
                  domain="blocked", gdev="fn1", ret="0")
    assert run(inv.DriverView(), [*aliases, fn0, fn1, claim]) is None
    # A wrong view is still one on an alias: fn1 was attached to blocked, the driver is
    # told it is on g.default.
    again = ev("hw.rid_attach", 4, "v", gdev="fn1", domain="hwpt", old="g.default",
               rid="blocked", view="g.default")
    exit_ = ev("iommu.attach_group.exit", 4, "v", ret="0")
    v = run(inv.DriverView(), [*aliases, fn0, fn1, claim, again, exit_])
    assert v["check"] == "I9" and v["gdev"] == "fn1" and v["expected"] == "blocked"


def _prepare_fault_rolled_back(actor="r", step=2):
    """prepare(a) whose blocking attach fails by injection: it returns the error and
    changes nothing (no WARN): the device is consistent again at its exit."""
    return [ev("iommu.prepare.enter", step, actor, gdev="a"),
            ev("fault", step, actor, site="attach_dev", gdev="a", domain="blocked"),
            state("iommu.prepare.exit", {"a": {"blocked": False, "reset_depth": 0}}, step,
                  actor, recovery_cnt=0, gdev="a", ret="ENOMEM", path="failed",
                  cause="driver attach_dev failed (injected)")]


def test_a_fault_rolled_back_exempts_nothing_after_it():
    """The exemption of a device whose driver callback failed by injection lasts as long
    as the state that failure left: a prepare that rolled back cleanly leaves none, so a
    later violation on the same device is caught (I4, I5, I6, I7, I9)."""
    rolled_back = [add("a"), *_prepare_fault_rolled_back()]
    blocked = {"a": {"blocked": True, "reset_depth": 1}}
    # I5: a later invalidation to the device in reset (an unfenced reset of it).
    inval = ev("hw.ats_inval", 5, "x", gdev="a", via=None, why="dma unmap", in_reset=True)
    assert run(inv.NoAtsToResetting(), [*rolled_back, inval])["check"] == "I5"
    # I4: a later prepare that blocks it without parking its requester ID.
    fenced = state("iommu.prepare.exit", blocked, 5, "r2", recovery_cnt=1, gdev="a",
                   ret="0", path="fenced")
    assert run(inv.PhysicallyFenced(), [*rolled_back, fenced])["check"] == "I4"
    # I6: a later done that leaves the requester ID on blocking.
    parked = ev("hw.rid_attach", 5, "r2", gdev="a", domain="blocked", old="g.default",
                rid="g.default", view="g.default")
    restored = state("iommu.done.exit", {"a": {"blocked": False, "reset_depth": 0}}, 6,
                     "r2", recovery_cnt=0, gdev="a", ret="0", path="restored")
    assert run(inv.Restore(), [*rolled_back, parked, fenced, restored])["check"] == "I6"
    # I7: the end of the run with the requester ID still parked.
    end = ev("run.end", 9, None, outcome="ok")
    assert run(inv.Quiescence(), [*rolled_back, parked, fenced, restored, end]
               )["check"] == "I7"
    # I9: a later callback told the wrong domain.
    stale = ev("hw.rid_attach", 7, "v", gdev="a", domain="hwpt", old="g.default",
               rid="blocked", view="g.default")
    exit_ = ev("iommu.attach_group.exit", 7, "v", ret="0")
    assert run(inv.DriverView(), [*rolled_back, parked, stale, exit_])["check"] == "I9"


def test_a_fault_that_left_state_behind_is_exempt_until_the_device_is_reattached():
    """B15: done()'s re-attach fails by injection (a WARN): the device stays on blocking
    though unblocked, which I6 must not judge. The next successful attach of its
    requester ID makes it consistent again, and from then on it is judged."""
    window = [add("a"),
              ev("hw.rid_attach", 1, "r", gdev="a", domain="blocked", old="g.default",
                 rid="g.default", view="g.default"),
              state("iommu.prepare.exit", {"a": {"blocked": True, "reset_depth": 1}}, 1, "r",
                    recovery_cnt=1, gdev="a", ret="0", path="fenced"),
              ev("iommu.done.enter", 2, "r", gdev="a"),
              ev("fault", 2, "r", site="attach_dev", gdev="a", domain="g.default"),
              ev("warn", 2, "r", site="pci_dev_reset_iommu_done", cond="re-attach failed",
                 gdev="a")]
    done = state("iommu.done.exit", {"a": {"blocked": False, "reset_depth": 0}}, 2, "r",
                 recovery_cnt=0, gdev="a", ret="0", path="restored")
    assert run(inv.Restore(), [*window, done]) is None
    # A later prepare that fails by injection and rolls back cleanly leaves that
    # leftover as it found it: still not judged at the end.
    end = ev("run.end", 9, None, outcome="ok")
    retry = _prepare_fault_rolled_back("r2", 3)
    assert run(inv.Quiescence(), [*window, done, *retry, end]) is None
    # The next callback for it finds blocking where the core believes g.default: that
    # is B15's leftover, not a wrong view.
    again = ev("hw.rid_attach", 3, "r2", gdev="a", domain="blocked", old="g.default",
               rid="blocked", view="g.default")
    fenced = state("iommu.prepare.exit", {"a": {"blocked": True, "reset_depth": 1}}, 3, "r2",
                   recovery_cnt=1, gdev="a", ret="0", path="fenced")
    assert run(inv.DriverView(), [*window, done, ev("iommu.prepare.enter", 3, "r2",
                                                     gdev="a"), again, fenced]) is None
    # Consistent again from that attach on: a done that forgets the re-attach is caught.
    later = [*window, done, again, fenced, ev("iommu.done.enter", 4, "r2", gdev="a"),
             {**done, "step": 4, "actor": "r2"}]
    assert run(inv.Restore(), later)["check"] == "I6"


def test_a_pasid_fault_exempts_that_pasid_only():
    """prepare() fails to block PASID 1 (set_dev_pasid fails, a WARN): PASID 1 stays
    live on the blocked device by design (B15's ground), PASID 2 must not."""
    bound = [ev("hw.pasid_set", 1, "s", gdev="a", pasid=p, domain="sva", attached=True,
                old=None, prev=None, rid="g.default", view="g.default") for p in (1, 2)]
    window = [add("a", max_pasids=8), *bound, ev("iommu.prepare.enter", 2, "r", gdev="a"),
              ev("hw.rid_attach", 2, "r", gdev="a", domain="blocked", old="g.default",
                 rid="g.default", view="g.default"),
              ev("fault", 2, "r", site="set_dev_pasid", gdev="a", domain="blocked", pasid=1),
              ev("warn", 2, "r", site="iommu_remove_dev_pasid", cond="set_dev_pasid(blocked) "
                 "failed: ENOMEM", gdev="a")]
    fenced = state("iommu.prepare.exit", {"a": {"blocked": True, "reset_depth": 1}}, 2, "r",
                   recovery_cnt=1, gdev="a", ret="0", path="fenced",
                   pasids={"1": "sva", "2": "sva"})
    torn = ev("hw.pasid_set", 2, "r", gdev="a", pasid=2, domain="blocked", attached=False,
              old="sva", prev="sva", rid="blocked", view="blocked")
    assert run(inv.PhysicallyFenced(), [*window, torn, fenced]) is None
    v = run(inv.PhysicallyFenced(), [*window, fenced])
    assert v["check"] == "I4" and v["actual"] == {2: "sva"}


def test_a_pasid_fault_does_not_exempt_the_requester_id():
    """prepare() failed to block PASID 1 (an injected set_dev_pasid fault, WARNed, so it
    stays exempt past prepare): that leaves PASID 1 inconsistent, not the requester ID.
    A done() that leaves the requester ID parked on blocking is still an I6 violation."""
    window = [add("a", max_pasids=8),
              ev("hw.pasid_set", 1, "s", gdev="a", pasid=1, domain="sva", attached=True,
                 old=None, prev=None, rid="g.default", view="g.default"),
              ev("iommu.prepare.enter", 2, "r", gdev="a"),
              ev("hw.rid_attach", 2, "r", gdev="a", domain="blocked", old="g.default",
                 rid="g.default", view="g.default"),
              ev("fault", 2, "r", site="set_dev_pasid", gdev="a", domain="blocked", pasid=1),
              ev("warn", 2, "r", site="iommu_remove_dev_pasid", cond="set_dev_pasid(blocked) "
                 "failed: ENOMEM", gdev="a"),
              state("iommu.prepare.exit", {"a": {"blocked": True, "reset_depth": 1}}, 2, "r",
                    recovery_cnt=1, gdev="a", ret="0", path="fenced", pasids={"1": "sva"}),
              ev("iommu.done.enter", 3, "r", gdev="a")]
    done = state("iommu.done.exit", {"a": {"blocked": False, "reset_depth": 0}}, 3, "r",
                 recovery_cnt=0, gdev="a", ret="0", path="restored", pasids={"1": "sva"})
    back = ev("hw.rid_attach", 3, "r", gdev="a", domain="g.default", old="blocked",
              rid="blocked", view="blocked")
    assert run(inv.Restore(), [*window, back, done]) is None
    v = run(inv.Restore(), [*window, done])
    assert v["check"] == "I6" and v["expected"] == "g.default" and v["actual"] == "blocked"


def test_i10_domain_liveness():
    free = ev("iommu.domain_free", 3, gdev=None, domain="hwpt1")
    use = ev("uaf", 7, site="attach_dev", gdev="a", domain="hwpt1")
    assert run(inv.DomainLiveness(), [free]) is None
    v = run(inv.DomainLiveness(), [free, use])
    assert v["check"] == "I10" and v["freed_at_step"] == 3


def test_i10_no_reference_to_a_freed_domain_survives_a_transition():
    """docs/kernel.md §8 I10: group->domain, the default and blocking domains, every
    pasid_array entry and every hw_rid / hw_pasid reference unfreed domains. Judged at
    each transition (the kernel frees a domain only after detaching it, and frees the
    default and blocking domains of an emptied group before it clears them, all
    inside one call), and on the final state."""
    free = ev("iommu.domain_free", 3, "v", domain="hwpt1")
    calm = {"a": {"blocked": False}}

    def snap(step=4, **fields):
        return {**state("iommu.use_default_domain.exit", calm, step, "d", recovery_cnt=0,
                        gdev="a", ret="0"), **fields}

    on_hwpt = ev("hw.rid_attach", 2, "v", gdev="a", domain="hwpt1", old="g.default",
                 rid="g.default", view="g.default")
    back = ev("hw.rid_attach", 2, "v", gdev="a", domain="g.default", old="hwpt1",
              rid="hwpt1", view="hwpt1")
    # Freed after the detach: nothing points at it.
    assert run(inv.DomainLiveness(), [add("a"), on_hwpt, back, free, snap()]) is None
    # B7: a nofail detach that failed leaves group->domain (and the hardware) on it.
    v = run(inv.DomainLiveness(), [add("a"), on_hwpt, free, snap(domain="hwpt1")])
    assert v["check"] == "I10" and v["where"] == "group->domain" and v["domain"] == "hwpt1"
    assert v["freed_at_step"] == 3 and v["group"] == "g"
    for where, fields in (("default_domain", {"default": "hwpt1"}),
                          ("blocking_domain", {"blocking": "hwpt1"}),
                          ("pasid_array[2]", {"pasids": {"2": "hwpt1"}})):
        v = run(inv.DomainLiveness(), [add("a"), free, snap(**fields)])
        assert v["check"] == "I10" and v["where"] == where, where
    # The hardware shadow: a's requester ID, a PASID of a.
    v = run(inv.DomainLiveness(), [add("a"), on_hwpt, free, snap()])
    assert v["where"] == "hw_rid[a]" and v["gdev"] == "a"
    bound = ev("hw.pasid_set", 2, "v", gdev="a", pasid=2, domain="hwpt1", attached=True,
               old=None, prev=None, rid="g.default", view="g.default")
    v = run(inv.DomainLiveness(), [add("a", max_pasids=8), bound, free, snap()])
    assert v["where"] == "hw_pasid[a][2]"
    # The final state of an ok run too, when no transition came after the free.
    end = ev("run.end", 9, None, outcome="ok")
    v = run(inv.DomainLiveness(), [add("a"), snap(step=2, domain="hwpt1"), free, end])
    assert v["check"] == "I10" and v["where"] == "group->domain"
    # A leftover of an injected driver failure (B15's ground) is not judged: the nofail
    # detach could not move a's requester ID off the hwpt VFIO then frees.
    nofail = [ev("fault", 2, "v", site="attach_dev", gdev="a", domain="g.default"),
              ev("warn", 2, "v", site="__iommu_group_set_domain_nofail",
                 cond="set_domain failed: ENOMEM"),
              state("iommu.detach_group_handle.exit", calm, 2, "v", recovery_cnt=0, ret="0")]
    assert run(inv.DomainLiveness(), [add("a"), on_hwpt, *nofail, free, snap()]) is None


def test_lock_discipline():
    """LOCK: group state and device programming only under group->mutex: every state
    snapshot and driver callback comes from the mutex's holder, and the state the next
    holder finds is the one the last holder left."""
    calm = {"a": {"blocked": False, "reset_depth": 0}}
    blocked = {"a": {"blocked": True, "reset_depth": 1}}

    def snap(gdevs, cnt, step, actor):
        return state("iommu.prepare.exit", gdevs, step, actor, recovery_cnt=cnt, gdev="a",
                     ret="0", path="fenced")

    def lock(event, actor, step, gdevs, cnt):
        s = snap(gdevs, cnt, step, actor)
        return ev(event, step, actor, lock="g.mutex",
                  state={k: v for k, v in s.items() if k in ("group", "domain", "default",
                         "blocking", "pasids", "gdevs", "recovery_cnt")})

    parked = ev("hw.rid_attach", 2, "r", gdev="a", domain="blocked", old="g.default",
                rid="g.default", view="g.default")
    held = [add("a"), lock("lock.acquire", "r", 1, calm, 0), parked,
            snap(blocked, 1, 2, "r"), lock("lock.release", "r", 2, blocked, 1)]
    later = [lock("lock.acquire", "v", 3, blocked, 1), lock("lock.release", "v", 3, blocked, 1)]
    assert run(inv.LockDiscipline(), [*held, *later]) is None
    # The snapshot emitted by an actor that does not hold the mutex.
    v = run(inv.LockDiscipline(), [*held, snap(blocked, 1, 3, "x")])
    assert v["check"] == "LOCK" and v["group"] == "g" and v["held_by"] is None
    assert v["message"].endswith("without g.mutex")  # no one holds it: nothing more said
    v = run(inv.LockDiscipline(), [*held[:2], snap(blocked, 1, 2, "x")])
    assert v["check"] == "LOCK" and v["held_by"] == "r"
    assert v["message"].endswith("without g.mutex, which r holds")
    # A driver callback on a device of the group, without its mutex.
    v = run(inv.LockDiscipline(), [*held, {**parked, "step": 3, "actor": "x"}])
    assert v["check"] == "LOCK" and v["gdev"] == "a" and "hw.rid_attach" in v["message"]
    # The next holder finds another state than the last one left: changed unlocked.
    v = run(inv.LockDiscipline(), [*held, lock("lock.acquire", "v", 3, calm, 0)])
    assert v["check"] == "LOCK" and v["lock"] == "g.mutex" and v["released_at_step"] == 2
    assert "changed while no one held g.mutex" in v["message"]
    # As the engine logs them: an event without `state` has the one the lock last told.
    told = [{k: v for k, v in e.items() if k != "state"} for e in later]
    assert run(inv.LockDiscipline(), [*held, *told]) is None
    v = run(inv.LockDiscipline(), [*held, *told, {**lock("lock.acquire", "w", 4, calm, 0),
                                                  "step": 4}])
    assert v["check"] == "LOCK" and v["released_at_step"] == 3
    assert v["expected"] == held[-1]["state"] != v["actual"]


def test_i11_pairing():
    ok = [ev("iommu.prepare.exit", 1, "r", gdev="a", ret="0"),
          ev("iommu.done.enter", 2, "r", gdev="a"), ev("actor.done", 3, "r")]
    assert run(inv.Pairing(), ok) is None
    failed_then_done = [ev("iommu.prepare.exit", 1, "r", gdev="a", ret="EBUSY"),
                        ev("iommu.done.enter", 2, "r", gdev="a")]
    v = run(inv.Pairing(), failed_then_done)
    assert v["check"] == "I11" and v["gdev"] == "a" and v["expected"] is None
    never_done = [ev("iommu.prepare.exit", 1, "r", gdev="a", ret="0"), ev("actor.done", 3, "r")]
    assert "never done" in run(inv.Pairing(), never_done)["message"]


def test_i12_warn_policy_and_expected_warns():
    warn = ev("warn", site="pci_dev_reset_iommu_done", cond="re-attach failed", gdev="a")
    assert run(inv.WarnPolicy(), [warn])["check"] == "I12"
    assert run(inv.WarnPolicy(["pci_dev_reset_iommu_done"]), [warn]) is None
    assert run(inv.WarnPolicy(["pci_dev_reset_iommu_done:re-attach failed"]), [warn]) is None
    assert run(inv.WarnPolicy(["pci_dev_reset_iommu_done:depth underflow"]), [warn])


def test_i13_errors_reach_the_caller():
    swallowed = [ev("iommu.prepare.enter", 1, "r", gdev="a"),
                 ev("warn", 2, "r", site="pci_dev_reset_iommu_prepare", cond="re-entry"),
                 ev("iommu.prepare.exit", 2, "r", gdev="a", ret="EBUSY"),
                 ev("pci.method", 3, "r", gdev="a", method="device_specific", ret="0")]
    passed_on = swallowed[:3] + [{**swallowed[3], "ret": "EBUSY"}]
    assert run(inv.ErrorsReachCaller(), passed_on) is None
    v = run(inv.ErrorsReachCaller(), swallowed)
    assert v["check"] == "I13" and v["expected"] == "EBUSY" and v["actual"] == "0"
    silent = [swallowed[0], swallowed[2]]
    assert "without a WARN" in run(inv.ErrorsReachCaller(), silent)["message"]

def test_i13_pcie_flr_returns_its_prepare_error():
    """A direct pcie_flr() (no walk, no pci.method event) must return its failed
    prepare's error: it is judged on the op's ok/fail."""
    failed = [ev("iommu.prepare.enter", 1, "r", gdev="a"),
              ev("iommu.prepare.exit", 2, "r", gdev="a", ret="ENOMEM", path="failed",
                 cause="blocking domain allocation failed (injected)")]
    passed_on = ev("op.fail", 3, "r", op="pcie_flr", gdev="a", ret="ENOMEM",
                   cause="blocking domain allocation failed (injected)")
    assert run(inv.ErrorsReachCaller(), [*failed, passed_on]) is None
    v = run(inv.ErrorsReachCaller(), [*failed, ev("op.ok", 3, "r", op="pcie_flr", gdev="a")])
    assert v["check"] == "I13" and v["gdev"] == "a"
    assert v["expected"] == "ENOMEM" and v["actual"] == "0"
    assert v["message"] == "pcie_flr returned 0, not ENOMEM"
    v = run(inv.ErrorsReachCaller(), [*failed, {**passed_on, "ret": "ENOTTY"}])
    assert v["check"] == "I13" and v["expected"] == "ENOMEM" and v["actual"] == "ENOTTY"
    # Another actor's pcie_flr is not this prepare's caller.
    assert run(inv.ErrorsReachCaller(),
               [*failed, ev("op.ok", 3, "other", op="pcie_flr", gdev="a")]) is None
    # The reset_method store answers -EINVAL for any failed probe, by design.
    store = ev("op.fail", 3, "r", op="sysfs_reset_method", gdev="a", ret="EINVAL",
               cause="reset method 'bus' not supported")
    assert run(inv.ErrorsReachCaller(), [*failed, store]) is None


def test_i13_attach_device_ebusy_only_while_fenced_or_owned():
    """N2: an owner's attach refused during a reset, or while another domain is attached,
    is designed behaviour; an -EBUSY with neither is not."""
    refused = dict(gdev="a", ret="EBUSY", new="owned1")
    fenced = state("iommu.attach_device.exit", {"a": {"blocked": True}}, recovery_cnt=1,
                   cause="reset fence", **refused)
    v0 = state("iommu.attach_device.exit", {"a": {}}, resetting="blocked",
               cause="reset fence", **refused)
    owned = state("iommu.attach_device.exit", {"a": {"blocked": False}}, recovery_cnt=0,
                  domain="owned0", cause="group already attached to another domain", **refused)
    for ok in (fenced, v0, owned):
        assert run(inv.ErrorsReachCaller(), [ok]) is None
    spurious = state("iommu.attach_device.exit", {"a": {"blocked": False}}, recovery_cnt=0,
                     cause="reset fence", **refused)
    v = run(inv.ErrorsReachCaller(), [spurious])
    assert v["check"] == "I13" and v["gdev"] == "a" and v["domain"] == "owned1"
    assert "neither resetting nor attached" in v["message"]


def test_i14_detach_postcondition():
    """The domain a detach or an ownership release leaves must no longer be the group's:
    B7/N1 (V0-S6) leave it there, S7 moves the group to its core domain."""
    gdevs = {"a": {"blocked": True}}
    v6 = state("iommu.detach_device.exit", gdevs, recovery_cnt=1, domain="owned1",
               gdev="a", ret="0", detached="owned1")
    s7 = {**v6, "domain": "g.default"}
    assert run(inv.DetachPostcondition(), [s7]) is None
    v = run(inv.DetachPostcondition(), [v6])
    assert v["check"] == "I14" and v["domain"] == "owned1" and v["gdev"] == "a"
    assert v["message"].startswith("iommu_detach_device(owned1) returned with g's domain "
                                   "still owned1")
    # A detach that WARNed (no `detached`) is a no-op by design (N3): not judged here.
    assert run(inv.DetachPostcondition(), [{k: x for k, x in v6.items()
                                            if k != "detached"}]) is None
    release = state("iommu.group_release_dma_owner.exit", gdevs, recovery_cnt=1,
                    domain="blocked", ret="0", detached="blocked")
    assert "iommu_group_release_dma_owner(blocked)" in run(inv.DetachPostcondition(),
                                                           [release])["message"]


def test_b14_removal_during_reset():
    reset = [ev("iommu.prepare.enter", 1, "r", gdev="a"),
             ev("iommu.prepare.exit", 2, "r", gdev="a", ret="0")]
    free = ev("iommu.gdev_free", 3, "h", gdev="a", blocked=True, reset_depth=1)
    done = ev("iommu.done.exit", 3, "r", gdev="a", ret="0")
    assert run(inv.RemovalDuringReset(), [*reset, done, free]) is None
    v = run(inv.RemovalDuringReset(), [*reset, free])
    assert v["check"] == "B14" and "removed in the middle" in v["message"]


def test_oops():
    assert run(inv.Oops(), [ev("oops", site="__iommu_attach_device", what="NULL")])["check"] == "oops"


def test_every_spec_invariant_has_a_checker_with_the_spec_wording():
    for i in (*range(1, 16), 17):
        cls = inv.CHECKERS[f"I{i}"]
        assert cls.__doc__.startswith(f"I{i} ("), cls
    assert inv.ORDER[0] == "B14" and set(inv.ORDER) - {"shadow"} == set(inv.CHECKERS)


def test_offline_check_reports_what_the_live_run_reported(tmp_path):
    out = tmp_path / "run"
    assert cli("run", "--version", "v0", "--seeds", "4", "--out", str(out)).returncode == 1
    summary = json.loads((out / "summary.json").read_text())
    for failure in summary["failures"]:
        proc = cli("check", failure["log"])
        assert proc.returncode == 1
        first = proc.stdout.splitlines()[0]
        assert first.startswith(f"step {failure['step']} ")
        assert f"[{failure['check']}]" in first


def test_offline_check_of_a_damaged_log_reports_lines_and_checks_the_rest(tmp_path):
    out = tmp_path / "run"
    cli("run", "--version", "v0", "--seed", "1", "--out", str(out))
    lines = (out / "logs" / "1.jsonl").read_bytes().splitlines(keepends=True)
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_bytes(b"".join(lines[:3]) + b"{oops\n" + b"".join(lines[3:])[:-25])
    proc = cli("check", str(damaged))
    assert proc.returncode == 1
    assert f"{damaged}:4: not a JSON object" in proc.stdout
    assert f"{damaged}:{len(lines) + 1}: not a JSON object" in proc.stdout
    assert "[I12]" in proc.stdout


def test_offline_check_of_a_clean_log(tmp_path):
    out = tmp_path / "run"
    cli("run", "--seed", "2", "--log", "all", "--out", str(out))
    proc = cli("check", str(out / "logs" / "2.jsonl"))
    assert proc.returncode == 0 and "0 findings" in proc.stdout
    events, problems = logfile.read(out / "logs" / "2.jsonl")
    assert problems == [] and events[0]["event"] == "run.start"
    # A damaged line makes the verdict incomplete; a file with no event is not a log.
    lines = (out / "logs" / "2.jsonl").read_bytes().splitlines(keepends=True)
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_bytes(b"".join(lines[:5]) + b"{oops\n" + b"".join(lines[5:]))
    proc = cli("check", str(damaged))
    assert proc.returncode == 1 and "0 findings, 1 line skipped" in proc.stdout
    other = tmp_path / "notes.txt"
    other.write_text("hello\n")
    proc = cli("check", str(other))
    assert proc.returncode == 2
    assert f"{other}: not a log: no line of it is an event" in proc.stderr


def test_i15_implicit_reset_coverage():
    """N4: a PF's FLR resets vf0 too, which no prepare fenced; an unmap of vf0's domain
    then invalidates a function in reset. vf0's own reset is I5's, not I15's."""
    covered = ev("hw.reset.begin", 3, "r", gdev="vf0", what="FLR", depth=1, by="pf0")
    inval = ev("hw.ats_inval", 5, "d", gdev="vf0", via=None, why="dma unmap", in_reset=False,
               reset_by=["pf0"])
    v = run(inv.ImplicitResetCoverage(), [add("vf0"), covered, inval])
    assert v["check"] == "I15" and v["gdev"] == "vf0" and v["by"] == "pf0"
    assert v["reset_since_step"] == 3 and "while the reset of pf0 resets it" in v["message"]
    after = ev("hw.ats_inval", 7, "d", gdev="vf0", via=None, why="dma unmap", in_reset=False)
    own = ev("hw.ats_inval", 7, "d", gdev="vf0", via=None, why="dma unmap", in_reset=True)
    assert run(inv.ImplicitResetCoverage(), [add("vf0"), covered, after, own]) is None
    assert run(inv.NoAtsToResetting(), [add("vf0"), covered, inval]) is None
    # A second reset of pf0: the violation names the window it fell in, not the first.
    ended = ev("hw.reset.end", 4, "r", gdev="vf0", what="FLR", depth=0, by="pf0")
    again = {**covered, "step": 6}
    v = run(inv.ImplicitResetCoverage(), [add("vf0"), covered, ended, again,
                                          {**inval, "step": 8}])
    assert v["reset_since_step"] == 6


def test_i15_a_bridges_reset_and_a_two_phase_invalidation():
    """N12/N8: a bus reset of rp1 resets nic0 (a window `by` the bridge); a VT-d
    invalidation built before it and delivered inside it names its build step (N16's
    signature). After the bridge's window ends, the same delivery is clean."""
    built = ev("hw.inv.build", 2, "d", inv=7, gdev="nic0")
    covered = ev("hw.reset.begin", 3, "h", gdev="nic0", what="bus reset", depth=1, by="rp1")
    inval = ev("hw.ats_inval", 5, "d", gdev="nic0", via=None, why="dma unmap",
               in_reset=False, reset_by=["rp1"], inv=7, attempt=2)
    v = run(inv.ImplicitResetCoverage(), [add("nic0"), built, covered, inval])
    assert v["by"] == "rp1" and v["reset_since_step"] == 3
    assert v["message"] == ("ATS invalidation (dma unmap, built at step 2, attempt 2) sent "
                            "to nic0 while the reset of rp1 resets it, unfenced")
    ended = ev("hw.reset.end", 4, "h", gdev="nic0", what="bus reset", depth=0, by="rp1")
    later = {k: v for k, v in inval.items() if k != "reset_by"}
    assert run(inv.ImplicitResetCoverage(), [add("nic0"), built, covered, ended, later]) \
        is None


def test_i17_overlapping_pairs_keep_the_device_blocked():
    """N7's shape: the pairs of two actors on one device overlap without nesting; the
    device must stay blocked until the last of them is done (S5+ does)."""
    def prepare(step, actor, depth):
        return state("iommu.prepare.exit", {"a": {"blocked": True, "reset_depth": depth}},
                     step, actor, recovery_cnt=1, gdev="a", ret="0",
                     path="fenced" if depth == 1 else "nested")

    def done(step, actor, depth):
        return state("iommu.done.exit", {"a": {"blocked": bool(depth), "reset_depth": depth}},
                     step, actor, recovery_cnt=int(bool(depth)), gdev="a", ret="0",
                     path="counted" if depth else "restored")
    aer, sysfs = "reset.aer", "sysfs.a"
    s5 = [prepare(1, aer, 1), prepare(2, sysfs, 2), done(3, aer, 1), done(4, sysfs, 0)]
    assert run(inv.OverlappingPairs(), s5) is None
    early = [prepare(1, aer, 1), prepare(2, sysfs, 2), done(3, aer, 0)]
    v = run(inv.OverlappingPairs(), early)
    assert v["check"] == "I17" and v["gdev"] == "a"
    assert v["message"] == ("a is no longer blocked after done by reset.aer while the pairs "
                            "of sysfs.a are still open")
    # Before S3 there is no per-device flag to judge; a failed prepare opens no pair.
    v0 = [{k: x for k, x in e.items() if k != "gdevs"} | {"gdevs": {"a": {}}} for e in early]
    assert run(inv.OverlappingPairs(), v0) is None
    refused = state("iommu.prepare.exit", {"a": {"blocked": True}}, 2, sysfs, recovery_cnt=1,
                    gdev="a", ret="EBUSY", path="re-entry")
    assert run(inv.OverlappingPairs(), [prepare(1, aer, 1), refused, done(3, aer, 0)]) is None


def _names_in(cls) -> set[str]:
    """The event names (of the event reference) that the code of `cls` and of the
    checker classes it inherits mentions, itself or through the module's constants it
    reads (FLAGS0, ...)."""
    import ast
    import inspect
    import textwrap

    from actors.events import TABLE
    from stress.events import ENGINE

    known = set(TABLE) | set(ENGINE)
    found = set()
    nodes = [node for klass in cls.__mro__ if klass.__module__ == inv.__name__
             for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(klass))))]
    for node in nodes:
        values = [node.value] if isinstance(node, ast.Constant) else []
        if isinstance(node, ast.Name) and isinstance(getattr(inv, node.id, None),
                                                     (set, frozenset, tuple)):
            values = list(getattr(inv, node.id))
        found |= {v for v in values if isinstance(v, str) and v in known}
    return found


@pytest.mark.parametrize("name", sorted([*inv.CHECKERS, "shadow", "coverage"]))
def test_every_event_a_checker_names_is_one_it_reads(name):
    """A checker is fed only the events its `events` name: a branch of its code for an
    event it does not name never runs, online or offline (I13's -EBUSY attach did not,
    once)."""
    from fnmatch import fnmatchcase

    cls = {"shadow": inv.Shadow, "coverage": inv.Coverage}.get(name) or inv.CHECKERS[name]
    patterns = getattr(cls, "events", None)
    if patterns is None:  # it reads every event
        return
    unread = sorted(n for n in _names_in(cls) if not any(fnmatchcase(n, p) for p in patterns))
    assert unread == [], f"{name} ({cls.__name__}) has code for events it is never fed"
    # and each name it reads is one the model or the engine emits (a typo reads nothing)
    from actors.events import TABLE
    from stress.events import ENGINE

    emitted = [*TABLE, *ENGINE]
    unknown = [p for p in patterns if not any(fnmatchcase(n, p) for n in emitted)]
    assert unknown == [], f"{name} reads events no one emits"
