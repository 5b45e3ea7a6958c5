"""The model's events and their fields (stress/events.py has the table format): what
`iommu.core`, `iommu.pci` and `iommu.hw` emit, and the fields the checkers of
`iommu.invariants` add to a `check.fail`. Rendered in docs/events.md."""

from __future__ import annotations

# The group state every `iommu.<function>.exit` carries (IommuCore.state).
GROUP_STATE = {
    "group": "str: the IOMMU group",
    "domain": "str | null: group->domain after the call",
    "default": "str | null: group->default_domain",
    "blocking": "str | null: group->blocking_domain (null: not allocated yet)",
    "pasids": "object: the group's PASID table, PASID -> domain",
    "recovery_cnt": "int: S3 and later: how many gdevs of the group are blocked for a reset",
    "resetting_domain": "str | null: before S3: the domain the group resets from (null: "
                        "no reset)",
    "reset_cnt": "int: the v2-reset-cnt design: nested prepares of the group",
    "gdevs": "object: per device of the group, `blocked` (S3+) and `reset_depth` (S5+)",
    "ret": "str: the return value: `0` or an errno name (`EBUSY`, ...)",
    "cause": "str: why an error was returned, in a phrase",
}

_DEV = {"gdev": "str: the device"}
_NEW = {"new": "str: the domain asked for"}
_PASID = {"pasid": "int: the PASID"}
# I14 (docs/kernel.md §8): the domain a detach or a release of DMA ownership detached the
# group from (some calls leave it out when that was only the default domain).
_DETACHED = {"detached": "str | null: the domain the call detached the group from"}

# Locked core functions: (what the call is, its own fields).
_EXITS = {
    "prepare": ("pci_dev_reset_iommu_prepare(): the device is fenced for a reset.", {
        "gdev": "str: the device", "path": "str: the way through the function: `fenced` "
        "(blocked now), `counted`/`nested` (already blocked: the depth grows), `re-entry`, "
        "`no-gdev`, `failed`, `no-ats` (nothing to do, no group state then)"}),
    "done": ("pci_dev_reset_iommu_done(): the device leaves its reset.", {
        "gdev": "str: the device", "path": "str: the way through the function: `restored` "
        "(unblocked), `counted` (still nested), `no-blocking`, `no-gdev`, `underflow`, "
        "`not-blocked`, `not-resetting`, `no-ats`"}),
    "deferred_attach": ("iommu_deferred_attach(): a deferred attach on first DMA use.", _DEV),
    "attach_device": ("iommu_attach_device().", {**_DEV, **_NEW}),
    "attach_group": ("iommu_attach_group().", _NEW),
    "attach_group_handle": ("iommu_attach_group_handle() (iommufd, VFIO).", _NEW),
    "replace_group_handle": ("iommu_replace_group_handle().", _NEW),
    "detach_device": ("iommu_detach_device().", {**_DEV, **_DETACHED}),
    "detach_group": ("iommu_detach_group().", _DETACHED),
    "detach_group_handle": ("iommu_detach_group_handle().", _DETACHED),
    "group_claim_dma_owner": ("iommu_group_claim_dma_owner().", {}),
    "device_claim_dma_owner": ("iommu_device_claim_dma_owner() (VFIO's open).", _DEV),
    "group_release_dma_owner": ("iommu_group_release_dma_owner().", _DETACHED),
    "device_release_dma_owner": ("iommu_device_release_dma_owner().", {**_DEV, **_DETACHED}),
    "use_default_domain": ("iommu_device_use_default_domain() (a driver binds).", _DEV),
    "unuse_default_domain": ("iommu_device_unuse_default_domain() (a driver unbinds).", _DEV),
    "attach_device_pasid": ("iommu_attach_device_pasid() (an SVA bind).",
                            {**_DEV, **_PASID, **_NEW}),
    "replace_device_pasid": ("iommu_replace_device_pasid().",
                             {**_DEV, **_PASID, **_NEW}),
    "detach_device_pasid": ("iommu_detach_device_pasid() (an SVA unbind).",
                            {**_DEV, **_PASID}),
    "store_type": ("iommu_group_store_type() (sysfs `type`).",
                   {"type": "str: the type written"}),
    "probe_device": ("__iommu_probe_device(): the device joins its group.", _DEV),
    "release_device": ("iommu_release_device(): the device leaves its group.", _DEV),
}

_FINDING = {
    "site": "str: the kernel function",
    "gdev": "str | null: the device",
}

MODEL = {
    **{f"iommu.{fn}.exit": (f"The exit of {what} Its result and the group state after it, "
                            "with the group mutex still held.", {**own, **GROUP_STATE})
       for fn, (what, own) in _EXITS.items()},
    "iommu.prepare.enter": ("pci_dev_reset_iommu_prepare() is called (before its unlocked "
                            "reads).", _DEV),
    "iommu.done.enter": ("pci_dev_reset_iommu_done() is called.", _DEV),
    "iommu.device_add": ("A device is probed into its group (the machine's setup).", {
        "gdev": "str: the device", "group": "str: its group",
        "rid": "str: its requester ID", "ats": "bool: it has ATS",
        "max_pasids": "int: its PASID table size (0: no PASID)",
        "attach_deferred": "bool: its default domain attaches on first use",
        "hw": "str | null: the domain its requester ID has in hardware",
        "domain": "str | null: group->domain"}),
    "iommu.domain_free": ("A domain is freed; a later use of it is a use-after-free.",
                          {"domain": "str: the domain"}),
    "iommu.gdev_free": ("A gdev is freed with the device's removal.", {
        "gdev": "str: the device", "blocked": "bool: it was still blocked",
        "reset_depth": "int: its reset depth then"}),
    **{f"hw.reset.{edge}": (f"The device {does} a hardware reset (nested resets count).", {
        **_DEV, "what": "str: the reset (FLR, bus reset, firmware reset, ...)",
        "depth": f"int: how many resets of it are in progress {when}",
        "by": "str: only when another's reset resets this one too (a PF's of its VFs, "
              "§13; a port's recovery of all below, §15): that function or port (I15)"})
       for edge, does, when in (("begin", "enters", "now"), ("end", "leaves", "still"))},
    "hw.rid_attach": ("The IOMMU driver's attach_dev programmed a requester ID's context.", {
        "gdev": "str: the device", "domain": "str: the domain now in hardware",
        "old": "str | null: the domain the core says it had",
        "rid": "str | null: the domain the hardware had",
        "view": "str | null: the domain the driver sees the device on (for I9)",
        "caller": "str: only when the driver re-attaches on its own, not the core's "
                  "attach_dev: the driver function that does"}),
    "hw.pasid_set": ("The IOMMU driver's set_dev_pasid programmed (or, with a blocked "
                     "domain, removed) a PASID.", {
        "gdev": "str: the device", "pasid": "int: the PASID",
        "domain": "str: the domain given", "attached": "bool: the PASID translates now",
        "old": "str | null: the domain the core says it had",
        "prev": "str | null: the domain the hardware had",
        "rid": "str | null: the requester ID's domain in hardware",
        "view": "str | null: the domain the driver sees the device on"}),
    "hw.ats_inval": ("A device-TLB (ATS) invalidation is sent to the device.", {
        "gdev": "str: the device it reaches",
        "via": "str | null: the device whose attach sent it (null: a domain flush)",
        "why": "str: what sent it (`rid`, `pasid N`, an unmap)",
        "in_reset": "bool: the device is in a hardware reset of its own (it cannot "
                    "answer; I5)",
        "reset_by": "list: only when another's reset resets it too: those functions or "
                    "ports (it cannot answer either; I15)",
        "inv": "int: a driver flavour's invalidation, delivered now (`hw.inv.build`)",
        "attempt": "int: a driver flavour's: how many times it was sent (a retry after a "
                   "timeout, or a resubmission after a VT-d ITE)"}),
    # The driver flavours' ATS state and two-phase invalidations (iommu/pci_ats.py,
    # iommu/cmdq.py; docs/kernel.md §14): the generic driver emits none of these.
    "hw.ats": ("A driver flavour changed a function's ATS state.", {
        "gdev": "str: the function", "pci": "bool: ATS Enable at the function",
        "iommu": "bool: its IOMMU entry takes ATS requests (STE.EATS, a present VT-d entry, "
                 "AMD DTE.I)",
        "stu": "int: the smallest translation unit set at enable (log2; 0: never enabled)",
        "qdep": "int: the invalidate queue depth read at enable",
        "why": "str: what changed it (`pci_enable_ats`, `pci_disable_ats`, `STE`, ...)"}),
    **{f"hw.inv.{step}": (what, {
        "inv": "int: the invalidation, numbered across every queue", "gdev": "str: the function",
        "queue": "str: the IOMMU's queue (`iommu0`), or a guest's vCMDQ", **more})
       for step, what, more in (
           ("build", "A driver flavour built an ATS invalidation.",
            {"why": "str: what sent it"}),
           ("submit", "The invalidation was put on its IOMMU's queue.", {}),
           ("complete", "The invalidation finished.", {
               "ret": "str: `0` (answered) or an errno name (given up after a timeout)"}),
           ("timeout", "The device did not answer in time: the flavour's handling.", {
               "action": "str: `retry`, `give up`, `ite` (VT-d: every request in the "
                         "queue aborted and each batch resubmitted whole), `bound` (VT-d: "
                         "the model's bound on restarts [INFERRED]) or `quarantine`",
               "msg": "str: what the kernel logs", "attempt": "int: the attempt that timed out",
               "aborted": "list: VT-d: the other requests the ITE aborted"}))},
    "pci.bme": ("A driver flavour's record of Bus Master Enable: the reset wrappers clear "
                "it before the reset and restore it after (I16(b)).",
                {"gdev": "str: the function", "on": "bool: Bus Master Enable"}),
    "pci.method": ("A reset method's result in the reset walk.", {
        "gdev": "str: the device", "method": "str: the method (`flr`, `bus`, ...)",
        "ret": "str: `0` or an errno name (`ENOTTY`: try the next)",
        "cause": "str | null: why it failed"}),
    "pci.err": ("pci_err(): the PCI core logs an error.", {
        "gdev": "str: the device", "msg": "str: the message",
        "ret": "str: the errno name (`0`: logged, not returned)", "cause": "str: why"}),
    "pci.info": ("pci_info(): the PCI core logs a note.",
                 {"gdev": "str: the device", "msg": "str: the message"}),
    "dev_warn": ("dev_warn(): the core logs a warning about a device.",
                 {"gdev": "str: the device", "msg": "str: the message"}),
    "warn": ("A WARN_ON() fired in the kernel model: the kernel prints a splat and goes "
             "on.", {
        "site": "str: the kernel function", "cond": "str: the condition that held",
        "gdev": "str: the device", "group": "str: the group", "pasid": "int: the PASID",
        "alias": "str: the DMA alias it concerns", "cause": "str: the error behind it"}),
    "oops": ("A NULL dereference in the kernel model: the actor dies.", {
        "site": "str: the kernel function", "what": "str: what was dereferenced",
        "gdev": "str: the device"}),
    "uaf": ("A freed domain was used.", {
        "site": "str: the use (`attach_dev`, an unmap, ...)",
        "gdev": "str | null: the device", "domain": "str: the freed domain"}),
    "fault": ("An injected fault fired (`[faults]`).", {
        "site": "str: the fault site", "gdev": "str: the device", "group": "str: the group",
        "domain": "str: the domain of the callback", "pasid": "int: the PASID",
        "reset": "str: pci_dev_wait: the reset waited for"}),
    # The fields the checkers of iommu.invariants add to a violation.
    "check.fail": ("The model's checkers (docs/kernel.md §8) give those below them.", {
        **_FINDING, "cond": "str: the WARN's condition", "group": "str | null: the group",
        "domain": "str: the domain", "pasid": "int | str: the PASID",
        "expected": "any: what the invariant wants", "actual": "any: what there was",
        "blocked": "list | bool: the blocked gdevs (I1), or the gdev's flag (I2)",
        "reset_depth": "int: the gdev's depth (I2)",
        "open_windows": "object: the reset windows open (I1 before S3)",
        "new": "str: the domain a call asked for", "why": "str: what sent the invalidation",
        "by": "str: the device whose call did it", "where": "str: where the freed domain is",
        "lock": "str: the lock", "held_by": "str | null: who held it",
        "prepared_at_step": "int | null: the step of the prepare that blocked the device",
        "freed_at_step": "int | null: the step the domain was freed at",
        "reset_since_step": "int | null: the step the device's reset began at",
        "callback_step": "int: the step of the driver callback",
        "released_at_step": "int: the step the lock was released at",
        "actor_": "null: an end-of-run verdict: no actor"}),
}
