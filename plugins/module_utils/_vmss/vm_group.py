# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout targets for a Flexible scale set and a group of plain VMs (the interface is targets.py's).

Both key members by VM NAME. A Flexible set rolls onto its latest model with ``manualupgrade`` by names, batches by
fault domain and zone; a group of plain VMs rolls an extension (an application shipped by an extension too) by
PUTting it on each VM of the batch, batches by availability-set update domain, fault domain, zone or count.
The batch's upgrade is run_named_upgrade: the same steps as upgrade.run_manual (wait for members still updating,
skip protected and current ones, ONE call for the batch, wait for App Health, outcomes), over a read and a call
given as functions, so the thresholds and the rollback judge the same outcomes for every kind.
"""

from __future__ import annotations

__metaclass__ = type

import copy

from ansible_collections.vmss.rollout.plugins.module_utils.azure_client import private_ips_by_instance
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError, VmssNotStarted, VmssTimeout
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import batches, extensions, health, \
    instances as inst_lib, vms
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.service import is_busy
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.upgrade import InputError, outcomes, skip_reason, \
    wait_for_health_in, wait_while_updating_in
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.waiter import Deadline, wait_until

KINDS = ("uniform", "flexible", "virtual_machines")


def _ignore(text):
    del text


def _none():
    return None


def wait_while_updating(read, keys, timeout, interval):
    """Re-read until none of ``keys`` is updating; returns that read (VmssTimeout after ``timeout``)."""
    return wait_while_updating_in(read, keys, timeout, interval, "members")


def wait_for_health(read, keys, after, wait, warn):
    """Re-read until the health of ``keys`` settles; on health_timeout keep the last read and warn."""
    return wait_for_health_in(read, keys, after, wait, warn, "members")


def run_named_upgrade(read, call, keys, wait, check_mode=False, warn=None, before_upgrade_call=None,
                      known_members=None, where="the group"):
    """One batch: (result, error) in vmss_instance_upgrade's shape, for members keyed by name.

    ``read()`` returns every member's summary; ``call(keys)`` upgrades them in ONE go (raises VmssNotStarted when
    nothing started, VmssTimeout when it outlived wait_timeout, VmssError when it failed). ``wait``: wait_timeout,
    poll_interval, health_timeout.
    """
    warn = warn or _ignore
    summaries = read() if known_members is None else known_members
    by_key = dict((s["instance_id"], s) for s in summaries)
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise InputError("members %s are not in %s (members: %s)." % (
            ", ".join(unknown), where, ", ".join(s["instance_id"] for s in inst_lib.sort_instances(summaries))))
    selected_ids = list(dict.fromkeys(keys))
    waited_for = [k for k in selected_ids if health.is_updating(by_key[k])]
    if waited_for and not check_mode:
        summaries = wait_while_updating(read, waited_for, wait["wait_timeout"], wait["poll_interval"])
        by_key = dict((s["instance_id"], s) for s in summaries)
    skipped, to_upgrade = [], []
    for key in selected_ids:
        reason = skip_reason(by_key.get(key) or {})
        if reason:
            skipped.append({"instance_id": key, "reason": reason})
        else:
            to_upgrade.append(key)
    error, call_end, after = None, None, summaries
    if to_upgrade and not check_mode:
        (before_upgrade_call or _none)()
        try:
            call(to_upgrade)
            call_end = "succeeded"
        except VmssNotStarted as err:
            error, call_end = err, "not_started"
        except VmssTimeout as err:
            error, call_end = err, "timed_out"
        except VmssError as err:
            error, call_end = err, "failed"
        after = read()
        if call_end == "not_started":
            started = [s["instance_id"] for s in after if s["instance_id"] in to_upgrade and health.is_updating(s)]
            if started:
                after = wait_while_updating(read, started, wait["wait_timeout"], wait["poll_interval"])
        if call_end != "timed_out":
            after = wait_for_health(read, to_upgrade, after, wait, warn)
    result_instances, upgraded, failed = outcomes(selected_ids, after, to_upgrade, skipped, check_mode, call_end)
    skipped = [{"instance_id": i["instance_id"], "reason": i["reason"]} for i in result_instances
               if i.get("outcome") == "skipped"]
    return dict(changed=bool(to_upgrade), instances=result_instances, upgraded=upgraded, skipped=skipped,
                failed_instances=failed, waited_for=waited_for, upgrade_call=call_end,
                scale_set_instances=inst_lib.sort_instances(after)), error


def with_addresses(service, resource_group, known, pairs):
    """The summaries of ``pairs`` [(vm, summary)] with ``private_ip`` filled (the drain and HTTP check URLs use it)
    from the resource group's NICs, listed once (one paged GET) and kept in ``known``: upgrades and extension changes
    keep a VM's address, and the members are read at every health poll."""
    if any(summary["instance_id"] not in known for _vm, summary in pairs):
        known.update(private_ips_by_instance(service.list_nics(resource_group)))
        known.update((summary["instance_id"], None) for _vm, summary in pairs if summary["instance_id"] not in known)
    result = []
    for _vm, summary in pairs:
        summary["private_ip"] = known.get(summary["instance_id"])
        result.append(summary)
    return result


class FlexibleScaleSet:
    """A Flexible scale set: members are VMs (by name), batches by fault domain and zone, manualupgrade by names.

    ``service`` is a vms.VmService; ``wait`` as UniformScaleSet's."""

    kind = "flexible_scale_set"

    def __init__(self, service, resource_group, name, wait):
        self.service = service
        self.resource_group = resource_group
        self.name = name
        self.wait = wait
        self._addresses = {}
        self._locks = None

    def check(self):
        """The scale set, refused unless it is Flexible (never rolled as if it were Uniform)."""
        scale_set = self.service.get_scale_set(self.resource_group, self.name)
        return vms.require_orchestration(scale_set, vms.FLEXIBLE, "the Flexible rollout (kind: flexible)")

    def members(self):
        summaries = with_addresses(self.service, self.resource_group, self._addresses, [
            (vm, vms.summarize_vm(vm, view, flexible=True))
            for vm, view in self.service.list_members_with_views(self.resource_group, self.name)])
        if self._locks is None:   # read once per run: the members are read at every health poll
            self._locks = self.service.lock_reasons(self.resource_group, [s["instance_id"] for s in summaries],
                                                    self.name)
        return vms.mark_locked(summaries, self._locks)

    @staticmethod
    def plan(members, batch="fault_domain", include_current=False):
        return batches.plan_by_placement(members, batch, "fault_domain", include_current)

    def upgrade(self, keys, check_mode=False, warn=None, before_upgrade_call=None, known_members=None):
        def call(names):
            self.service.manual_upgrade_by_names(self.resource_group, self.name, names, self.wait["wait_timeout"])
        return run_named_upgrade(self.members, call, list(keys), self.wait, check_mode, warn, before_upgrade_call,
                                 known_members, "Flexible scale set %s/%s" % (self.resource_group, self.name))

    def settle(self, keys):
        return wait_while_updating(self.members, keys, self.wait["wait_timeout"], self.wait["poll_interval"])

    @staticmethod
    def unhealthy(members):
        return health.rollout_unhealthy_ids(members)


# --- a group of plain VMs: an extension rollout ----------------------------------------------------------------

def check_extension(extension):
    """The desired extension (user shape: name, publisher, type, type_handler_version, settings, ...) or InputError."""
    if not isinstance(extension, dict) or not extension.get("name"):
        raise InputError("extension must be a dict with at least name, publisher, type and type_handler_version.")
    missing = [key for key in extensions.REQUIRED_FOR_CREATE if not extension.get(key)]
    unknown = sorted(set(extension) - set(extensions.ARM_KEY) - {"name"})
    if missing or unknown:
        raise InputError("extension %s: %s." % (extension["name"], "; ".join(
            (["missing %s" % ", ".join(missing)] if missing else [])
            + (["unknown option(s) %s (allowed: name, %s)" % (", ".join(unknown), ", ".join(extensions.ARM_KEY))]
               if unknown else []))))
    return extension


def extension_is_current(arm_ext, desired):
    """True when the VM's extension (ARM shape, None when absent) has every compared option the user set and
    succeeded. protected_settings are write-only and never compared: change force_update_tag to resend them."""
    if not arm_ext:
        return False
    if ((arm_ext.get("properties") or {}).get("provisioningState") or "Succeeded").lower() != "succeeded":
        return False
    current = extensions.from_arm(arm_ext)
    for key in extensions.COMPARED_FIELDS:
        wanted = desired.get(key)
        if wanted is None:
            continue
        have = current.get(key)
        if key == "type_handler_version":
            have, wanted = str(have), str(wanted)
        elif key in extensions.ABSENT_IS_FALSE and have is None:
            have = False
        if have != wanted:
            return False
    return True


def extension_body(desired, location):
    """The PUT body of a VM extension (ARM shape) for the user-shaped ``desired``."""
    body = extensions.to_arm(desired)
    body.pop("name", None)
    body["location"] = location
    return body


class VirtualMachineGroup:
    """Plain VMs of one resource group rolled onto ``extension`` (user shape), batch by batch.

    A member is current when its extension matches; summaries carry ``latest_model_applied`` = current, the
    ``extension`` (public view, no protected settings) and ``provisioning_state`` Failed when the extension failed,
    so the one planner, the one outcome rule and the thresholds hold for the group as for a scale set.
    ``batch_by``: update_domain (availability set), fault_domain, zone or none (counts)."""

    kind = "virtual_machine_group"

    def __init__(self, service, resource_group, names, extension, wait, batch_by="update_domain", before_retry=None):
        self.service = service
        self.resource_group = resource_group
        self.names = list(names)
        self.extension = extension
        self.wait = wait
        self.batch_by = batch_by
        # called with what is about to be retried, before each retry of a write refused as busy (the action's
        # guard against a killed ansible-playbook: a retry may come long after the batch's first write)
        self.before_retry = before_retry or _ignore
        self._addresses = {}
        self._locks = None

    def _summary(self, vm, view):
        summary = vms.summarize_vm(vm, view)
        ext = self.service.get_extension(self.resource_group, vm["name"], self.extension["name"])
        summary["extension"] = extensions.public_view(dict(ext, name=self.extension["name"])) if ext else None
        summary["location"] = vm.get("location")
        # a VM whose last extension operation failed is not on the extension, whatever its model says: a re-run
        # must try it again
        summary["latest_model_applied"] = extension_is_current(ext, self.extension) and not health.is_failed(summary)
        ext_state = ((ext or {}).get("properties") or {}).get("provisioningState") or ""
        if ext_state.lower() in ("failed", "updating", "creating") and not health.is_updating(summary):
            summary["provisioning_state"] = ext_state
        return summary

    def members(self):
        pairs = self.service.list_vms_with_views(self.resource_group, self.names)
        if self._locks is None:   # read once per run: the members are read at every health poll
            self._locks = self.service.lock_reasons(self.resource_group, self.names)
        return vms.mark_locked(with_addresses(self.service, self.resource_group, self._addresses,
                                              [(vm, self._summary(vm, view)) for vm, view in pairs]), self._locks)

    def plan(self, members, batch="update_domain", include_current=False):
        return batches.plan_by_placement(members, batch, self.batch_by, include_current)

    def _start_when_free(self, start, name, warn, deadline):
        """``start()`` (a begin_* call); while ARM refuses it because another operation holds the VM (409: its own
        change that outlived wait_timeout, a colleague's write), retried every poll_interval until ``deadline`` (one
        for the whole write, so N busy VMs never wait N x wait_timeout), said once; then the last refusal is
        raised."""
        refused = []

        def started():
            if refused:
                self.before_retry("retrying the extension write on virtual machine %s/%s"
                                  % (self.resource_group, name))
            try:
                return start()
            except VmssNotStarted as err:
                if not is_busy(err):
                    raise
                if not refused:
                    warn("Virtual machine %s/%s is busy with another operation (%s); retrying every %g s for up to "
                         "%g s (wait_timeout)." % (self.resource_group, name, err.msg, self.wait["poll_interval"],
                                                   self.wait["wait_timeout"]))
                refused[:] = [err]
                return None
        try:
            return wait_until(started, deadline.remaining(), self.wait["poll_interval"],
                              "virtual machine %s/%s to accept the extension write" % (self.resource_group, name))
        except VmssTimeout:
            raise refused[0]

    def _apply(self, names, extension, known=None, warn=None):
        """PUT ``extension`` (None: delete it) on every VM of ``names``: start every operation (waiting out a VM
        busy with another one), then wait for each; VmssNotStarted when none started, the first error otherwise
        (the others' outcomes come from the read)."""
        locations = dict((m["instance_id"], m.get("location")) for m in (known or []))
        deadline = Deadline(self.wait["wait_timeout"])
        started, errors = [], []
        for name in names:
            if extension is None:
                def start(name=name):
                    return self.service.begin_delete_extension(self.resource_group, name, self.extension["name"])
            else:
                def start(name=name):
                    location = locations.get(name) or self.service.get_vm(self.resource_group, name).get("location")
                    return self.service.begin_put_extension(self.resource_group, name, extension["name"],
                                                            extension_body(extension, location))
            try:
                started.append((name, self._start_when_free(start, name, warn or _ignore, deadline)))
            except VmssNotStarted as err:
                errors.append(err)
        if not started and errors:
            raise errors[0]
        for name, poller in started:
            try:
                self.service.finish("write extension %s of virtual machine %s/%s" % (
                    self.extension["name"], self.resource_group, name), poller, self.wait["wait_timeout"])
            except VmssError as err:
                errors.append(err)
        if errors:
            first = errors[0]
            raise VmssError(first.msg, code=first.code, request_id=first.request_id, status=first.status) \
                if isinstance(first, VmssNotStarted) else first

    def upgrade(self, keys, check_mode=False, warn=None, before_upgrade_call=None, known_members=None):
        def call(names):
            self._apply(names, self.extension, known_members, warn)
        return run_named_upgrade(self.members, call, list(keys), self.wait, check_mode, warn, before_upgrade_call,
                                 known_members, "the group of virtual machines")

    def settle(self, keys):
        return wait_while_updating(self.members, keys, self.wait["wait_timeout"], self.wait["poll_interval"])

    @staticmethod
    def unhealthy(members):
        return health.rollout_unhealthy_ids(members)

    def rollback(self, keys, previous, warn=None):
        """Put ``previous`` (user-shaped; None when the rollout created the extension: remove it) back on ``keys``,
        then wait for their health; returns (rolled back keys, error or None)."""
        keys = list(keys)
        if not keys:
            return [], None
        error = None
        try:
            self._apply(keys, previous, warn=warn)
        except VmssError as err:
            error = err
        after = wait_for_health(self.members, keys, self.members(), self.wait, warn or _ignore)
        by_key = dict((m["instance_id"], m) for m in after)
        back = []
        for key in keys:
            member = by_key.get(key) or {}
            ext = member.get("extension")
            if previous is None and ext is None or previous is not None and ext and not health.is_failed(member) \
                    and extension_is_current(extensions.to_arm(dict(ext, name=previous["name"])), previous):
                back.append(key)
        return back, error


def previous_extension(members, rollback_extension=None):
    """What a VM group's rollback puts back: the user's ``rollback_extension``, else the extension the members
    still off the new one carry now (the first such member's; None when they have none: the rollout creates it and
    the rollback removes it). Protected settings cannot be read back: give rollback_extension to restore them."""
    if rollback_extension:
        return copy.deepcopy(rollback_extension)
    for member in inst_lib.sort_instances(members):
        if not member.get("latest_model_applied"):
            return copy.deepcopy(member.get("extension"))
    return None


# --- which target: the vmss_rollout_batches action's kind option --------------------------------------------------

def resolve_kind(kind, instances, read_scale_set):
    """"uniform", "flexible" or "virtual_machines" for ``kind`` (vmss_rollout_batches' option).

    ``auto`` takes the kind from the caller's instance summaries when there are some (a Flexible member says so:
    no request), else from the scale set's orchestrationMode (``read_scale_set()``). A Flexible set is never
    rolled as Uniform: ``uniform`` given for Flexible members (or a Flexible set) raises VmssError."""
    flexible_members = bool(instances) and any(i.get("kind") == "flexible_member" for i in instances)
    if kind == "virtual_machines":
        return kind
    if kind == "flexible":
        return kind
    if instances and not flexible_members:
        return "uniform"
    if flexible_members:
        if kind == "uniform":
            raise VmssError("kind uniform was given, but the instances are members of a Flexible scale set: use kind "
                            "flexible (or auto).", code=vms.WRONG_ORCHESTRATION)
        return "flexible"
    scale_set = read_scale_set()
    if kind == "uniform":
        vms.require_orchestration(scale_set, vms.UNIFORM, "kind uniform")
        return kind
    return "flexible" if vms.orchestration_mode(scale_set) == vms.FLEXIBLE else "uniform"
