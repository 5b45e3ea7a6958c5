"""The IOMMU driver flavours (docs/kernel.md §14): one sequential test per statement of
the addendum a flavour models, the checkers I16 and I18 and the extended I5 against
event sequences that break them and that do not, and the guest actor's configs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from actors.model import build
from iommu import invariants as inv
from iommu.core import AttachHandle
from iommu.domain import BLOCKED, SVA, Domain
from iommu.drivers import Smmuv3, Vtd
from stress import config as configs
from stress.sweep import Sweep
from tests.helpers import ROOT
from tests.test_checkers import ev, run


def order(m, *names):
    """The positions of the first event of each name (or (name, field=value) pair)."""
    out = []
    for want in names:
        name, fields = want if isinstance(want, tuple) else (want, {})
        out.append(next(i for i, e in enumerate(m.rt.events) if e["event"] == name
                        and all(e.get(k) == v for k, v in fields.items())))
    return out


def ats(m, name):
    s = m.kernel.driver.ats.of(m.dev(name))
    return s.pci, s.iommu


def reset_ends_at(m, dev, when):
    """The sequential runtime's sleeps, with `dev`'s reset ending once virtual time
    reaches `when` (seconds)."""
    sleep = m.rt.sleep

    async def sleep_then_end(seconds, touches=None):
        await sleep(seconds, touches)
        if m.rt.vt >= when and m.kernel.hw.in_reset(dev):
            m.kernel.hw.reset_end(dev, "bus hot reset")
    m.rt.sleep = sleep_then_end


# ----- ATS disable against the blocking attach -----

async def test_smmuv3_disables_ats_before_the_blocking_ste_and_flushes_after():
    """§14.1: ATS turning off: pci_disable_ats() + wmb() before the STE changes; the
    commit's atc_inv_master(NO_PASID) after; done enables ATS after its flush."""
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="smmuv3")
    assert ats(m, "a") == (True, True)  # on with the default domain at probe
    assert await m.kernel.pci_dev_reset_iommu_prepare(m.dev("a")) == 0
    off, ste, inval = order(m, ("hw.ats", {"why": "pci_disable_ats"}),
                            ("hw.rid_attach", {"domain": "blocked"}), "hw.ats_inval")
    assert off < ste < inval
    assert ats(m, "a") == (False, False)
    await m.kernel.pci_dev_reset_iommu_done(m.dev("a"))
    flush, on = order(m, ("hw.ats_inval", {"why": "rid"}), ("hw.ats", {"why": "pci_enable_ats"}))
    assert ats(m, "a") == (True, True) and m.warns() == []


async def test_smmuv3_ats_enable_failure_is_ignored_at_probe_as_at_attach(monkeypatch):
    """§14.1: arm_smmu_enable_ats() logs a pci_enable_ats() failure and goes on, with ATS
    in the STE: at probe's first attach as at done()'s re-attach."""
    from iommu.pci_ats import Ats
    from iommu.ret import err
    monkeypatch.setattr(Ats, "pci_enable_ats", lambda self, dev, ps=12: err("EINVAL", "STU"))
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="smmuv3")
    assert ats(m, "a") == (False, True)
    assert await m.kernel.pci_dev_reset_iommu_prepare(m.dev("a")) == 0
    await m.kernel.pci_dev_reset_iommu_done(m.dev("a"))
    assert ats(m, "a") == (False, True)
    assert [e["msg"] for e in m.events("dev_warn")] == ["Failed to enable ATS (STU 12)"] * 2


async def test_amd_disables_ats_after_the_blocking_dte_and_its_flush():
    """§14.3 [INFERRED]: the DTE is cleared and flushed (device IOTLB, completion wait)
    first, the ATS capability disabled after."""
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="amd")
    assert await m.kernel.pci_dev_reset_iommu_prepare(m.dev("a")) == 0
    dte, inval, off = order(m, ("hw.rid_attach", {"domain": "blocked"}), "hw.inv.complete",
                            ("hw.ats", {"why": "pci_disable_ats"}))
    assert dte < inval < off and ats(m, "a") == (False, False)


async def test_vtd_keeps_ats_on_and_tears_down_synchronously():
    """§14.2: the blocking attach clears the entry and invalidates the devTLB through
    qi_submit_sync inside the callback; ATS stays enabled at the function [INFERRED]."""
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="vtd")
    assert await m.kernel.pci_dev_reset_iommu_prepare(m.dev("a")) == 0
    done, exit_ = order(m, "hw.inv.complete", "iommu.prepare.exit")
    assert done < exit_ and ats(m, "a") == (True, False)


@pytest.mark.parametrize("version,kept", [("v0", True), ("s2", True), ("s3", False),
                                          ("vf", False)])
async def test_smmuv3_last_ssid_downgrade_sees_the_logical_domain_before_s3(version, kept):
    """N17: with a PASID attached, the blocking STE keeps ATS (cd_needs_ats); removing
    the last SSID re-runs the SID domain's attach only if the driver sees it blocked,
    which it does from S3 on. Before, ATS stays on across the FLR."""
    m = build(version, {"name": "a", "flr": True, "max_pasids": 8}, iommu_driver="smmuv3")
    assert await m.kernel.iommu_attach_device_pasid(Domain("sva1", SVA), m.dev("a"), 1) == 0
    assert await m.kernel.pci_dev_reset_iommu_prepare(m.dev("a")) == 0
    assert m.kernel.hw.pasid["a"] == {}
    assert ats(m, "a") == ((True, True) if kept else (False, False))


async def test_smmuv3_last_ssid_reruns_the_identity_sid_domains_attach():
    """§14.1: removing the last SSID runs the SID domain's attach_dev again when it is
    IDENTITY or BLOCKED: the STE is written anew (a bypass STE, no CD table) and ATS,
    kept on for the CD table, goes off."""
    m = build("vf", {"name": "a", "flr": True, "max_pasids": 8}, iommu_driver="smmuv3")
    k, a = m.kernel, m.dev("a")
    assert await k.iommu_group_store_type(a.iommu_group, "identity") == 0
    sva = Domain("sva1", SVA)
    assert await k.iommu_attach_device_pasid(sva, a, 1) == 0
    assert ats(m, "a") == (True, True)  # cd_needs_ats
    await k.iommu_detach_device_pasid(sva, a, 1)
    removed = order(m, ("hw.pasid_set", {"attached": False}))[0]
    again = [e for e in m.rt.events[removed:] if e["event"] == "hw.rid_attach"]
    assert [e["domain"] for e in again] == [a.iommu_group.domain.name]
    assert a.iommu_group.domain.type == "IDENTITY"
    assert ats(m, "a") == (False, False)


# ----- two-phase invalidations -----

async def test_smmuv3_sync_drains_what_was_submitted_not_what_was_only_built():
    """§14.1: the blocking attach's CMD_SYNC completes every command inserted before it;
    a batch built but not yet submitted (arm_smmu_atc_inv_domain between dropping
    devices_lock and submitting) is not drained (N15)."""
    m = build("vf", {"name": "a", "flr": True}, {"name": "b", "flr": True},
              iommu_driver="smmuv3")
    q = m.kernel.driver.queue
    built, queued = q.build(m.dev("a"), "dma unmap"), q.build(m.dev("b"), "dma unmap")
    q.submit([queued])
    assert await m.kernel.pci_dev_reset_iommu_prepare(m.dev("a")) == 0
    assert queued.ret == "0" and built.ret is None


async def test_smmuv3_timeout_is_logged_retried_once_then_given_up():
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="smmuv3")
    k, a = m.kernel, m.dev("a")
    k.hw.reset_begin(a, "bus hot reset")  # a reset the fence does not cover
    ret = await k.driver.invalidate([a], "dma unmap")
    assert ret.name == "ETIMEDOUT"
    assert [e["action"] for e in m.events("hw.inv.timeout")] == ["retry", "give up"]
    assert [e["attempt"] for e in m.events("hw.ats_inval")] == [1, 2]


async def test_a_function_a_bridges_reset_covers_answers_no_invalidation():
    """A window another function's or a bridge's reset opens (docs/kernel.md §13.1) is
    a reset too: the queued invalidation to it times out, and its delivery names the
    reset that covers it (I15). Once the window ends it completes."""
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="smmuv3")
    k, a = m.kernel, m.dev("a")
    bridge = SimpleNamespace(name="rp1")
    k.hw.cover_begin(a, "bus reset", bridge)
    assert (await k.driver.invalidate([a], "dma unmap")).name == "ETIMEDOUT"
    assert [e.get("reset_by") for e in m.events("hw.ats_inval")] == [["rp1"], ["rp1"]]
    k.hw.cover_end(a, "bus reset", bridge)
    assert await k.driver.invalidate([a], "dma unmap") == 0


async def test_smmuv3_quarantine_blocks_ats_at_the_first_timeout():
    """The posted series as a switch: the device's ATS is blocked at its first ATC
    invalidation timeout; later flushes leave it out."""
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="smmuv3", quarantine=True)
    k, a = m.kernel, m.dev("a")
    k.hw.reset_begin(a, "bus hot reset")
    assert (await k.driver.invalidate([a], "dma unmap")).name == "ETIMEDOUT"
    assert [e["action"] for e in m.events("hw.inv.timeout")] == ["quarantine"]
    assert ats(m, "a") == (False, False)
    await k.driver.flush_domain(a.iommu_group.default_domain, "dma unmap")
    assert len(m.events("hw.ats_inval")) == 1


async def test_vtd_disables_ats_at_release_and_enables_it_at_the_next_probe():
    """§14.2 [INFERRED]: ATS is on from probe_finalize to release_device; a hot-added
    device gets it again, with no WARN of pci_enable_ats/pci_disable_ats."""
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="vtd")
    k, a = m.kernel, m.dev("a")
    group = a.iommu_group
    await k.iommu_release_device(a)
    assert ats(m, "a") == (False, False)
    await k.iommu_group_alloc_default(group)
    assert await k.iommu_probe_device(group, a) == 0
    assert ats(m, "a") == (True, True) and m.warns() == []


async def test_vtd_ite_aborts_every_submitter_and_they_resubmit():
    """§14.2: an ITE marks every request in the queue aborted, whoever sent it; the
    device is present (mid-reset), so each batch starts again, and completes once the
    device answers."""
    m = build("vf", {"name": "a", "flr": True}, {"name": "b", "flr": True},
              iommu_driver="vtd")
    k, a, b = m.kernel, m.dev("a"), m.dev("b")
    q = k.driver.queue
    k.hw.reset_begin(a, "bus hot reset")
    reset_ends_at(m, a, 0.5)
    first, second = q.build(a, "dma unmap"), q.build(b, "dma unmap")
    q.submit([first])
    q.submit([second])
    assert await q.sync([first, second]) == 0
    (ite,) = m.events("hw.inv.timeout")
    assert ite["action"] == "ite" and ite["aborted"] == [second.id]
    delivered = [(e["gdev"], e["attempt"], e["in_reset"]) for e in m.events("hw.ats_inval")]
    assert delivered == [("a", 1, True), ("a", 2, False), ("b", 2, False)]


async def test_vtd_ite_restarts_the_callers_whole_batch():
    """§14.2: qi_submit_sync() restarts with the whole batch: b's command, answered
    before a's timed out, is sent again with it."""
    m = build("vf", {"name": "a", "flr": True}, {"name": "b", "flr": True},
              iommu_driver="vtd")
    k, a, b = m.kernel, m.dev("a"), m.dev("b")
    k.hw.reset_begin(a, "bus hot reset")
    reset_ends_at(m, a, 0.5)
    assert await k.driver.invalidate([b, a], "dma unmap") == 0
    delivered = [(e["gdev"], e["attempt"], e["in_reset"]) for e in m.events("hw.ats_inval")]
    assert delivered == [("b", 1, False), ("a", 1, True), ("b", 2, False), ("a", 2, False)]


async def test_vtd_ite_on_a_present_device_restarts_until_its_reset_ends():
    """§14.2: a device present but mid-reset gets -EAGAIN and a restart for as long as
    its reset lasts (here 5 ITEs), then its answer completes the batch: no -ETIMEDOUT."""
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="vtd")
    k, a = m.kernel, m.dev("a")
    k.hw.reset_begin(a, "bus hot reset")
    reset_ends_at(m, a, 4.5)
    assert await k.driver.invalidate([a], "dma unmap") == 0
    assert [e["action"] for e in m.events("hw.inv.timeout")] == ["ite"] * 5
    assert [e["attempt"] for e in m.events("hw.ats_inval")] == [1, 2, 3, 4, 5, 6]


async def test_vtd_ite_restarts_end_at_the_run_bound_with_an_event():
    """[INFERRED] a reset that never ends: the model stops restarting at Vtd.RUN_BOUND,
    visibly (a `bound` timeout event), and the caller gets -ETIMEDOUT."""
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="vtd")
    k, a = m.kernel, m.dev("a")
    k.hw.reset_begin(a, "bus hot reset")
    assert (await k.driver.invalidate([a], "dma unmap")).name == "ETIMEDOUT"
    actions = [e["action"] for e in m.events("hw.inv.timeout")]
    assert actions == ["ite"] * Vtd.RUN_BOUND + ["bound"]
    assert "ITE restarts" in m.events("hw.inv.timeout")[-1]["msg"]


async def test_vtd_ite_on_a_device_gone_is_not_retried():
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="vtd")
    k, a = m.kernel, m.dev("a")
    k.hw.reset_begin(a, "bus hot reset")
    a.iommu_group = None  # removed: pci_device_is_present() is false
    assert (await k.driver.invalidate([a], "dma unmap")).name == "ETIMEDOUT"
    assert len(m.events("hw.inv.timeout")) == 1


async def test_vtd_pasid_domain_flush_reaches_a_device_whose_rid_is_blocked():
    """§14.2: a PASID domain's flush follows its DEVTLB cache tag (domain, device,
    PASID) and ATS at the function, not the RID entry: with the RID blocked and PASID 1
    still on the SVA domain, an unmap of it invalidates the device TLB."""
    m = build("vf", {"name": "a", "flr": True, "max_pasids": 8}, iommu_driver="vtd")
    k, a = m.kernel, m.dev("a")
    sva = Domain("sva1", SVA)
    assert await k.iommu_attach_device_pasid(sva, a, 1) == 0
    blocked = Domain("blocked", BLOCKED)
    assert await k.driver.attach_dev(blocked, a, a.iommu_group.domain) == 0
    assert ats(m, "a") == (True, False) and k.hw.pasid["a"] == {1: sva}
    await k.driver.flush_domain(sva, "dma unmap")
    assert [e["gdev"] for e in m.events("hw.ats_inval", why="dma unmap")] == ["a"]


async def test_amd_queues_and_completes_only_at_the_completion_wait():
    """§14.3: device_flush_iotlb() only queues; the command reaches the device when a
    completion wait drives the queue: here the blocking attach's, before the reset."""
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="amd")
    q = m.kernel.driver.queue
    queued = q.build(m.dev("a"), "dma unmap")
    q.submit([queued])
    assert m.events("hw.ats_inval") == [] and queued.ret is None
    assert await m.kernel.pci_dev_reset_iommu_prepare(m.dev("a")) == 0
    assert queued.ret == "0" and m.events("hw.ats_inval")[0]["inv"] == queued.id


async def test_amd_completion_wait_timeout_gives_up():
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="amd")
    k, a = m.kernel, m.dev("a")
    k.hw.reset_begin(a, "bus hot reset")
    assert (await k.driver.invalidate([a], "dma unmap")).name == "EIO"
    (t,) = m.events("hw.inv.timeout")
    assert t["msg"] == "AMD-Vi: Completion-Wait loop timed out"


# ----- guest invalidations (§14.4) -----

async def test_vsmmu_atc_inv_reaches_a_device_in_reset_and_an_unknown_vsid_is_eio():
    from iommu.viommu import VIommu
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="smmuv3")
    k, a = m.kernel, m.dev("a")
    vi = VIommu("vi")
    assert await vi.iommufd_vdevice_alloc(a, 5) == 0
    assert await k.pci_dev_reset_iommu_prepare(a) == 0
    k.hw.reset_begin(a, "FLR")
    assert (await k.driver.arm_vsmmu_cache_invalidate(vi, 6)).name == "EIO"
    await k.driver.arm_vsmmu_cache_invalidate(vi, 5)
    assert m.events("hw.ats_inval", why="guest ATC_INV")[0]["in_reset"] is True


async def test_intel_nested_invalidation_does_not_reach_a_blocked_device():
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="vtd")
    k, a = m.kernel, m.dev("a")
    nested = k.alloc_domain(prefix="nested")
    assert await k.iommu_device_claim_dma_owner(a, object()) == 0
    assert await k.iommu_attach_group_handle(nested, a.iommu_group, AttachHandle(nested)) == 0
    await k.driver.intel_nested_cache_invalidate_user(nested)
    assert len(m.events("hw.ats_inval", why="guest cache invalidate")) == 1
    assert await k.pci_dev_reset_iommu_prepare(a) == 0
    await k.driver.intel_nested_cache_invalidate_user(nested)
    assert len(m.events("hw.ats_inval", why="guest cache invalidate")) == 1


def test_guest_mode_needs_its_driver_flavour():
    raw = {"model": {"iommu_driver": "vtd"},
           "group": [{"name": "g", "device": [{"name": "a", "flr": True}]}],
           "actor": [{"kind": "guest", "target": "a", "mode": "vsmmu"}]}
    with pytest.raises(configs.ConfigError, match="vsmmu needs model.iommu_driver = 'smmuv3'"):
        configs.validate(configs_model(), raw, "(test)")
    raw["model"] = {"quarantine": True}
    with pytest.raises(configs.ConfigError, match="model.quarantine: the quarantine series"):
        configs.validate(configs_model(), raw, "(test)")


def configs_model():
    from actors.target import TARGET
    return TARGET.config_model


# ----- checkers -----

def inval(step, gdev="a", n=1, in_reset=True, attempt=1):
    return ev("hw.ats_inval", step, gdev=gdev, via=None, why="dma unmap", in_reset=in_reset,
              inv=n, attempt=attempt)


def test_i16_a_flags_an_invalidation_built_before_prepare_still_pending_at_the_reset():
    built = ev("hw.inv.build", 2, "u", inv=1, gdev="a", why="dma unmap", queue="iommu0")
    prepared = ev("iommu.prepare.exit", 3, "r", gdev="a", ret="0", path="fenced")
    begin = ev("hw.reset.begin", 4, "r", gdev="a", what="FLR", depth=1)
    done = ev("hw.inv.complete", 3, "u", inv=1, gdev="a", ret="0", queue="iommu0")
    v = run(inv.DrainBeforeReset(), [built, prepared, begin])
    assert v["check"] == "I16" and "built at steps [2]" in v["message"]
    assert run(inv.DrainBeforeReset(), [built, done, prepared, begin]) is None
    late = ev("hw.inv.build", 3, "u", inv=1, gdev="a", why="dma unmap", queue="iommu0")
    assert run(inv.DrainBeforeReset(), [prepared, late, begin]) is None  # I5's, not I16's


def test_i16_b_flags_prepare_on_a_wrapper_path_with_bus_master_on():
    invoke = ev("op.invoke", 1, "r", op="pci_reset_function", gdev="a")
    enter = ev("iommu.prepare.enter", 3, "r", gdev="a")
    off = ev("pci.bme", 2, "r", gdev="a", on=False)
    on = ev("pci.bme", 2, "r", gdev="a", on=True)
    assert run(inv.DrainBeforeReset(), [invoke, on, enter])["check"] == "I16"
    assert run(inv.DrainBeforeReset(), [invoke, off, enter]) is None
    flr = ev("op.invoke", 1, "r", op="pcie_flr", gdev="a")  # not a wrapper: not judged
    assert run(inv.DrainBeforeReset(), [flr, on, enter]) is None


def test_i18_flags_ats_still_taken_by_the_iommu_at_reset_start():
    from tests.test_checkers import add
    begin = ev("hw.reset.begin", 5, "r", gdev="a", what="FLR", depth=1)

    def hw_ats(pci, iommu):
        return ev("hw.ats", 3, "r", gdev="a", pci=pci, iommu=iommu, stu=12, qdep=32, why="x")
    v = run(inv.AtsAtResetStart(), [add("a"), hw_ats(True, True), begin])
    assert v["check"] == "I18" and "IOMMU entry takes ATS requests" in v["message"]
    assert run(inv.AtsAtResetStart(), [add("a"), hw_ats(False, True), begin]) is None
    assert run(inv.AtsAtResetStart(), [add("a"), hw_ats(True, False), begin]) is None
    pasid = ev("hw.pasid_set", 4, "r", gdev="a", pasid=1, domain="sva1", attached=True,
               old=None, prev=None, rid="g.default", view="g.default")
    v = run(inv.AtsAtResetStart(), [add("a", max_pasids=8), hw_ats(True, False), pasid, begin])
    assert "PASIDs [1] are in use" in v["message"]
    assert run(inv.AtsAtResetStart(), [add("a"), begin]) is None  # generic: no ATS state


def test_i5_judges_a_two_phase_invalidation_when_delivered():
    from tests.test_checkers import add
    built = ev("hw.inv.build", 2, "u", inv=7, gdev="a", why="dma unmap", queue="iommu0")
    begin = ev("hw.reset.begin", 4, "r", gdev="a", what="FLR", depth=1)
    assert run(inv.NoAtsToResetting(), [add("a"), built, begin, inval(5, n=7)])["message"] \
        == "ATS invalidation (dma unmap, built at step 2) sent to a while it is in reset"
    assert run(inv.NoAtsToResetting(), [add("a"), built, inval(3, n=7, in_reset=False),
                                        begin]) is None


# ----- the flavours' shipped configs: clean, and the same runs catching a break -----

def sweep_checks(tmp_path, name, seeds, **overrides):
    from actors.target import TARGET
    config = configs.load(TARGET.config_model, ROOT / "configs" / f"{name}.toml", overrides)
    sweep = Sweep(TARGET, config, tmp_path, log="none")
    sweep.run(range(seeds))
    return {f["check"] for f in sweep.failures}


@pytest.mark.parametrize("name", ["vtd-unmap-reset", "amd-unmap-reset"])
def test_the_unmap_configs_find_n15_with_smmuv3s_build_submit_gap(tmp_path, name):
    """vtd-unmap-reset and amd-unmap-reset are clean on vf (tests/test_actors.py); with
    SMMUv3's driver the same runs find N15."""
    assert "I16" in sweep_checks(tmp_path, name, 150, **{"model.iommu_driver": "smmuv3"})


def test_a_vtd_flush_with_a_gap_between_build_and_submit_is_caught(tmp_path, monkeypatch):
    """Break VT-d by hand: its flush gets SMMUv3's gap (devices_lock dropped before the
    submit); its config then finds I16."""
    monkeypatch.setattr(Vtd, "_flush", Smmuv3._flush)
    assert "I16" in sweep_checks(tmp_path, "vtd-unmap-reset", 150)


def test_smmuv3_pasid_config_finds_n17_before_s3_once_b12_is_out_of_the_way(tmp_path):
    found = sweep_checks(tmp_path, "smmuv3-pasid-reset", 60,
                         **{"model.version": "s2", "checks.disable": ["I9"]})
    assert "I18" in found


def test_smmuv3_without_the_ats_disable_of_the_blocking_attach_warns(tmp_path, monkeypatch):
    """Break SMMUv3 by hand: no pci_disable_ats() before the blocking STE; done()'s
    pci_enable_ats() then finds ATS still on and WARNs (I12)."""
    monkeypatch.setattr(Smmuv3, "_ats_prepare", lambda self, dev, was, want: None)
    assert "I12" in sweep_checks(tmp_path, "smmuv3-pasid-reset", 60)


def test_a_blocking_ste_that_keeps_ats_is_caught(tmp_path, monkeypatch):
    """Break SMMUv3 by hand: the driver takes the blocked domain for a paging one, so its
    STE keeps ATS; the FLR starts with ATS on at the function and in the IOMMU (I18)."""
    import iommu.drivers
    monkeypatch.setattr(iommu.drivers, "paging", lambda d: d is not None and d.type != "IDENTITY")
    assert "I18" in sweep_checks(tmp_path, "smmuv3-pasid-reset", 60)


def test_a_guest_invalidation_in_the_reset_window_is_found_on_vf_and_replays(tmp_path):
    """N18: the vSMMU guest's ATC_INV reaches the device while the host resets it, on
    mainline; the artifact replays byte for byte."""
    from tests.helpers import cli
    out = tmp_path / "n18"
    r = cli("run", str(ROOT / "configs" / "zoo" / "n18-vsmmu-guest-inv.toml"), "--seeds", "20",
            "--out", str(out), "--workers", "1")
    assert r.returncode == 1 and "(guest ATC_INV" in (out / "summary.json").read_text()
    artifact = sorted((out / "failures").glob("*.json"))[0]
    replay = cli("replay", str(artifact))
    assert replay.returncode == 0 and "reproduced exactly" in replay.stdout, replay.stdout


def test_invalidations_of_two_queues_never_share_a_number():
    """A vCMDQ has a queue of its own; I5 and I16 key invalidations by their number, so
    a command of one queue must not complete (or date) another queue's."""
    from iommu.cmdq import CmdQueue
    m = build("vf", {"name": "a", "flr": True}, iommu_driver="smmuv3")
    k, a = m.kernel, m.dev("a")
    guest = CmdQueue(k.rt, k.hw, "vcmdq0", k.driver)
    first, second = k.driver.queue.build(a, "unmap"), guest.build(a, "guest ATC_INV")
    assert first.id != second.id
    assert [e["inv"] for e in m.events("hw.inv.build")] == [first.id, second.id]
