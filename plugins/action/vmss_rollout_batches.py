# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmss_rollout_batches: the rolling_upgrade role's batch loop, on the controller (documented in the module file).

This file is the glue: options, credentials, one Azure client, and the side effects the loop in
plugin_utils/rollout.py calls (read, settle, drain, upgrade, HTTP check), each write guarded against a killed
ansible-playbook. The upgrade of a batch is the upgrade engine's run() (module_utils/_vmss/upgrade.py, which
vmss_instance_upgrade runs too), so selection, skip reasons, resume and the health wait stay in one place.
"""

from __future__ import annotations

__metaclass__ = type

import os
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError
from ansible_collections.vmss.rollout.plugins.module_utils.module import vmss_argument_spec
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import batches, instances as inst_lib, probes, \
    surge, upgrade, vm_group
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.rollout_options import ARGUMENT_SPEC, option_errors
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.targets import SurgeScaleSet, UniformScaleSet
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.vms import VmService, orchestration_mode
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.waiter import Deadline
from ansible_collections.vmss.rollout.plugins.plugin_utils import rollout
from ansible_collections.vmss.rollout.plugins.plugin_utils.azure import scale_set_service

display = Display()

DRAIN_ACCEPTED = {200, 202, 204}
CONCURRENCY = 32


class ControllerGone(Exception):
    """The ansible-playbook that ran this task is gone (killed): nothing more may be written for it."""


def controller_watch(parent_pid):
    """A check to call before each write. Ansible's workers run in their own session (os.setsid), so killing
    ansible-playbook's process group leaves this worker running: without the check, a killed rollout would go on
    batch after batch, racing the rerun the operator starts."""
    def check(before):
        if os.getppid() != parent_pid:
            raise ControllerGone("The ansible-playbook that ran this task is gone: stopped before %s." % before)
    return check


class AzureSteps:
    """The loop's side effects: reads, settle and the upgrade through the rollout target (one client), HTTP to
    instances."""

    def __init__(self, target, args, check_mode, before_write, say=display.display):
        self.target = target
        self.args = args
        self.check_mode = check_mode
        self.before_write = before_write
        self.say = say

    def read(self):
        return self.target.members()

    def settle(self, instance_ids):
        return self.target.settle(instance_ids)

    def drain(self, members):
        if self.check_mode:
            return  # a POST changes the instance: not in check mode, as vmss_instance_http
        self.before_write("draining instances %s" % ", ".join(m["instance_id"] for m in members))
        send = probes.make_sender("POST", self.args["http_timeout"], self.args["validate_certs"])
        # best effort, as the role always did: an instance that cannot be drained is not serving traffic anyway
        probes.probe_all(send, probes.render_urls(self.args["drain_url"], members), DRAIN_ACCEPTED, 0, 0, CONCURRENCY)

    def surge_drain(self, victims):
        ids = ", ".join(m["instance_id"] for m in victims)
        if self.args["drain"]:
            # old instances were all in the caller's first read, which has their private IPs (the target's reads
            # do not list NICs)
            self.drain(inst_lib.select_by_ids(self.args["instances"], [m["instance_id"] for m in victims]))
            rollout.progress_sleep(self.args["drain_seconds"], "Draining instances %s before deleting them" % ids,
                                   self.say, time.sleep)
        self.before_write("deleting instances %s (replaced by new ones)" % ids)
        self.say("Deleting instances %s: their replacements are healthy and in rotation." % ids)

    def http_check(self, instances):
        send = probes.make_sender("GET", self.args["http_timeout"], self.args["validate_certs"])
        results = probes.probe_all(send, probes.render_urls(self.args["http_url"], instances), {200},
                                   self.args["http_retries"], self.args["http_delay"], CONCURRENCY)
        return [r["instance_id"] for r in results if not r["ok"]]

    def upgrade(self, instance_ids, delay, view):
        upgrade_after = Deadline(delay)

        def before_upgrade_call(step="upgrade", victims=()):
            if step == "delete":
                # surge: the old instances drain now that their replacements are healthy and in rotation
                self.surge_drain(victims)
                return
            if step == "upgrade":
                rollout.progress_sleep(round(upgrade_after.remaining(), 1), "Draining instances %s before the "
                                       "upgrade" % ", ".join(instance_ids), self.say, time.sleep)
            self.before_write("%s instances %s" % ("upgrading" if step == "upgrade" else "(%s) for" % step,
                                                   ", ".join(instance_ids)))

        try:
            result, error = self.target.upgrade(instance_ids, self.check_mode, display.warning, before_upgrade_call,
                                                view)
        except (upgrade.InputError, VmssError) as err:
            return {"msg": str(err)}
        if error is not None:
            result["msg"] = str(error)
        return result


def bad_option(args):
    """One sentence per option that cannot work (the rollout's one option check), or None."""
    # ``batch`` here is the number of the one batch to run, not the role's batch size
    errors = option_errors(dict((key, value) for key, value in args.items() if key != "batch"))
    errors.extend(target_option_errors(args))
    if args["batch"] is not None and args["plan"] is None:
        errors.append("batch needs plan (the batches to pick it from).")
    elif args["batch"] is not None and not 1 <= args["batch"] <= len(args["plan"]):
        errors.append("batch must be between 1 and %d (the batches of plan), got %d." % (
            len(args["plan"]), args["batch"]))
    return " ".join(errors) or None


def target_option_errors(args):
    """The kind options that cannot work together (issue 14's targets), one sentence each."""
    errors = []
    keys = ("kind", "virtual_machines", "extension", "rollback", "rollback_extension")
    given = dict((key, args.get(key)) for key in keys)
    group = given["kind"] == "virtual_machines"
    if group and not given["virtual_machines"]:
        errors.append("kind virtual_machines needs virtual_machines (the names of the VMs in resource_group).")
    if group and not given["extension"]:
        errors.append("kind virtual_machines needs extension (the extension to roll onto the VMs).")
    if not group:
        errors.extend("%s applies to kind virtual_machines only." % key
                      for key in ("virtual_machines", "extension", "rollback_extension") if given[key])
        if given["rollback"]:
            errors.append("rollback applies to kind virtual_machines only (the rolling_upgrade role rolls back scale "
                          "sets).")
    if given["extension"]:
        try:
            vm_group.check_extension(given["extension"])
        except upgrade.InputError as err:
            errors.append(str(err))
    if "instances" in args and (args.get("plan") is None) != (args["instances"] is None):
        errors.append("plan and instances go together: give both, or neither (the action then reads and plans).")
    return errors


def make_target(args, service, before_write):
    """The rollout target for ``kind`` (auto: from the instances or the scale set's orchestrationMode);
    ``before_write(what)`` guards the writes a target retries on its own."""
    wait = dict((key, args[key]) for key in ("wait_timeout", "poll_interval", "health_timeout"))
    vm_service = VmService(service.client, service.subscription_id)
    kind = vm_group.resolve_kind(args["kind"], args["instances"],
                                 lambda: vm_service.get_scale_set(args["resource_group"], args["name"]))
    if kind != "uniform" and args["strategy"] == "surge":
        raise upgrade.InputError("strategy: surge rolls Uniform scale sets only (it scales the set out and deletes "
                                 "instances by id); this target is %s. Use strategy: in_place."
                                 % ("a Flexible scale set" if kind == "flexible" else "a group of plain VMs"))
    if kind == "virtual_machines":
        return vm_group.VirtualMachineGroup(vm_service, args["resource_group"], args["virtual_machines"],
                                            args["extension"], wait, args["batch_by"], before_write)
    if kind == "flexible":
        target = vm_group.FlexibleScaleSet(vm_service, args["resource_group"], args["name"], wait)
        target.check()
        return target
    if args["strategy"] == "surge":
        vmss = service.get(args["resource_group"], args["name"])
        problem = surge.refusal("%s/%s" % (args["resource_group"], args["name"]), orchestration_mode(vmss),
                                (((vmss.get("properties") or {}).get("upgradePolicy")) or {}).get("mode"),
                                args["option_prefix"])
        if problem:
            raise upgrade.InputError(problem)
        wait.update(in_rotation_seconds=args["surge_in_rotation_seconds"], protected=args["surge_protected"])
        return SurgeScaleSet(service, args["resource_group"], args["name"], wait, time.sleep)
    return UniformScaleSet(service, args["resource_group"], args["name"], wait)


def final_view(kind, latest):
    """The members after the run as vmss_info returns them: a Flexible set's by (zone and) fault domain."""
    if not latest:
        return {}
    return inst_lib.flexible_fleet_view(latest) if kind == "flexible_scale_set" else inst_lib.fleet_view(latest)


def roll_back_group(target, members, args, state, say):
    """A VM group's rollback after a breach: the previous extension back on every VM the rollout touched."""
    touched = list(dict.fromkeys(state["upgraded"] + [f["instance_id"] for f in state["failed"]]))
    previous = vm_group.previous_extension(members, args["rollback_extension"])
    say("Rolling back: %s on VM(s) %s." % (
        "extension %s as before the rollout" % args["extension"]["name"] if previous
        else "removing extension %s, which the rollout created" % args["extension"]["name"],
        ", ".join(touched) or "(none)"))
    back, error = target.rollback(touched, previous, display.warning)
    missing = [key for key in touched if key not in back]
    note = ("Rolled back: VM(s) %s are back on the previous extension." % ", ".join(back) if back else "") + (
        " VM(s) %s did not go back%s." % (", ".join(missing), ": %s" % error if error else "") if missing else "")
    return back, note.strip()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _environment(self):
        """The controller's environment with the task's ``environment`` on top (where a module would see AZURE_*)."""
        environ = dict(os.environ)
        layers = self._task.environment or []
        for layer in layers if isinstance(layers, list) else [layers]:
            if layer:
                environ.update((str(k), str(v)) for k, v in self._templar.template(layer).items())
        return environ

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        dummy, args = self.validate_argument_spec(argument_spec=vmss_argument_spec(ARGUMENT_SPEC))
        problem = bad_option(args)
        if problem:
            raise AnsibleActionFail(problem)
        state = rollout.new_state()
        state.update(args["tally"] or {})
        check_mode = bool(self._task.check_mode)
        options = dict((key, args[key]) for key in (
            "max_unhealthy_percent", "max_unhealthy_upgraded_percent", "drain", "drain_seconds", "http_check",
            "bake_seconds", "pause_seconds", "bake_after_last_batch", "option_prefix", "strategy"))
        options["scale_set"] = "%s/%s" % (args["resource_group"], args["name"])
        say = rollout.prefixed_say(display.display, options["scale_set"])
        try:
            service = scale_set_service(args, self._environment(), args["poll_interval"], args["wait_timeout"])
            before_write = controller_watch(os.getppid())
            target = make_target(args, service, before_write)
            steps = AzureSteps(target, args, check_mode, before_write, say)
            only = args["batch"] - 1 if args["batch"] is not None else None
            plan, instances = args["plan"], args["instances"]
            if plan is None:
                # no caller's plan: read the members and plan them (a Flexible set or a VM group, usually)
                instances = target.members()
                planned = target.plan(instances, args["batch_size"])
                plan = planned["batches"]
                result["planned"] = dict(planned, lines=batches.describe(planned, options["scale_set"]))
                for line in result["planned"]["lines"]:
                    say(line)
            # the caller's read is the latest view for a whole run or its first batch; a later single batch reads
            current = instances if only in (None, 0) else None
            latest = rollout.run_batches(steps, options, plan, instances, current, state, display.display, only=only)
            if isinstance(target, SurgeScaleSet) and latest and not check_mode:
                # a rollback (the model restored: the old instances are current again) ends the surge rollout too
                target.release_base(latest)
            if state["breach"] and args["rollback"] and not check_mode:
                # a write like any other: not for a killed ansible-playbook (its rerun may be rolling forward)
                steps.before_write("rolling back")
                result["rolled_back"], result["rollback_note"] = roll_back_group(target, instances, args, state, say)
        except (rollout.TwoZonesError, ControllerGone, batches.BatchError, upgrade.InputError) as err:
            raise AnsibleActionFail(str(err))
        except VmssError as err:
            result.update(failed=True, msg=err.msg, tally=state, **err.as_result())
            return result
        result.update(changed=bool(state["upgraded"]) and not check_mode, tally=state, kind=target.kind,
                      final=final_view(target.kind, latest))
        return result
