# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one run of the four extension modules, over a target: a scale set's model or one virtual machine.

``declare_extensions`` is vmss_extension_sequence and vm_extension; ``set_automatic_upgrade`` is vmss_auto_ext_upgrade
and vm_auto_ext_upgrade. Each plans from the extensions as read, refuses before writing, writes unless in check mode
and builds the module's result (diff included). What differs between a scale set and a VM is the target, duck-typed
(no base class); the two below have:

``noun``, ``judged``
    How messages name the target ("scale set", "virtual machine") and what its health signal judges.
``change(plan_for, check_mode, on_final_plan=None)``
    Read; ``plan_for(extensions, read)`` returns the plan (extensions.plan's shape, optionally with an
    ``upgrade_policy`` patch) and may raise or fail to refuse; ``on_final_plan(extensions, plan)`` is called once,
    when the plan can no longer change; write unless in check mode or nothing differs.
    Returns ``(read, extensions as read, plan, written or None)``.
``extensions_after(plan, written)``
    The target's extensions after the change (the plan's prediction when nothing was written).
``returns(extensions)``
    The target's own return values (a scale set's provisioning_order).
``automatic_refusal(read, allowed)``
    The sentence refusing an extension change the upgrade policy would apply to everything at once, or None.
``rolling_policy_patch(read, wanted)``, ``rolling_policy_values(read, patch, wanted)``
    The upgradePolicy patch setting useRollingUpgradePolicy (None: nothing to set), and its before and after
    values for the diff and returns (``{}`` for a VM, which has no upgrade policy).
``unsent_warning(names)``
    The warning for protected settings neither sent nor compared.

Constructors only store their arguments; every read and write happens in the methods.
"""

from __future__ import annotations

__metaclass__ = type

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import extensions as ext_graph, images
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.extension_service import ExtensionService
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.service import write_on_latest


class ScaleSetModel:
    """The extensions of a scale set's model, through an ExtensionService: ONE PATCH of the whole extension profile
    (and upgrade policy) guarded by the etag read; a 412 re-reads and plans again (write_on_latest).

    ``module``: its resource_group and name options name the set; conflict_retries, wait_timeout and poll_interval
    bound the retries; its warn says when the set is busy with another operation."""

    noun = "scale set"
    judged = "instances"

    def __init__(self, service, module):
        self.service = service
        self.module = module

    def change(self, plan_for, check_mode, on_final_plan=None):
        module = self.module
        rg, name = module.params["resource_group"], module.params["name"]
        planned = {}

        def compute(vmss):
            planned["current"] = ext_graph.model_extensions(vmss)
            planned["plan"] = plan_for(planned["current"], vmss)
            if not something_to_write(planned["plan"]) or check_mode:
                return None
            return planned["plan"]

        def write(vmss, plan):
            extensions = ext_graph.arm_profile_for_write(plan) if plan["changed"] else None
            return self.service.patch_model(rg, name, vmss.get("etag"), extensions=extensions,
                                            upgrade_policy=plan.get("upgrade_policy"))

        vmss, written, _conflicts = write_on_latest(lambda: self.service.get_scale_set(rg, name), compute, write,
                                                    module.params["conflict_retries"], rg, name,
                                                    busy_timeout=module.wait_timeout,
                                                    poll_interval=module.poll_interval, say=module.warn)
        if on_final_plan:
            on_final_plan(planned["current"], planned["plan"])
        return vmss, planned["current"], planned["plan"], written

    @staticmethod
    def extensions_after(plan, written):
        return plan["extensions"] if written is None else ext_graph.model_extensions(written)

    @staticmethod
    def returns(extensions):
        return {"provisioning_order": ext_graph.provisioning_order(extensions)}

    def automatic_refusal(self, vmss, allowed):
        return images.automatic_refusal(
            "extensions", "the extensions", self.module.params["resource_group"], self.module.params["name"],
            images.upgrade_policy_of(vmss), allowed,
            "switch the scale set to Manual or Rolling first (vmss_model_image upgrade_policy)")

    @staticmethod
    def rolling_policy_patch(vmss, wanted):
        """The upgradePolicy patch that sets useRollingUpgradePolicy to ``wanted``, or None (not given, or already so)."""
        if wanted is None or rolling_flag(vmss) is wanted:
            return None
        return {"automaticOSUpgradePolicy": {"useRollingUpgradePolicy": wanted}}

    @staticmethod
    def rolling_policy_values(vmss, patch, wanted):
        """({use_rolling_upgrade_policy: before}, {use_rolling_upgrade_policy: after}) for the diff and returns."""
        before = rolling_flag(vmss)
        return ({"use_rolling_upgrade_policy": before},
                {"use_rolling_upgrade_policy": before if patch is None else wanted})

    @staticmethod
    def unsent_warning(names):
        return ("protected_settings of %s not sent and not compared: %s already in the model and "
                "protected_settings_update is on_create (Azure never returns protected settings, so a change "
                "cannot be seen). Set protected_settings_update: always to send them, with a new "
                "force_update_tag to run the extension again."
                % (quoted(names), "it is" if len(names) == 1 else "they are"))


class VirtualMachine:
    """The extensions of one VM, through a VmService. They are separate resources without an etag: one PUT (create),
    PATCH of only the differing properties (update) or DELETE (remove) per changed extension.

    ``module``: its resource_group and name options name the VM; each write is waited for at most its wait_timeout."""

    noun = "virtual machine"
    judged = "the VM"

    def __init__(self, service, module):
        self.service = service
        self.module = module

    def change(self, plan_for, check_mode, on_final_plan=None):
        # a missing VM fails here, and a scale set's name with NotAVirtualMachine's hint
        vm = self.service.get_vm(*self._key())
        current = self.service.list_extensions(*self._key())
        plan = plan_for(current, vm)
        if on_final_plan:
            on_final_plan(current, plan)
        written = None
        if plan["changed"] and not check_mode:
            written = self._write(plan, vm.get("location"))
        return vm, current, plan, written

    def _write(self, plan, location):
        """One write per changed extension, in plan order (a new one in the VM's ``location``); returns what each
        write returned."""
        service, timeout = self.service, self.module.wait_timeout
        rg, name = self._key()
        written = []
        for action, ext_name, body in ext_graph.vm_extension_writes(plan):
            if action == "create":
                written.append(service.put_extension(rg, name, ext_name, dict(body, location=location), timeout))
            elif action == "update":
                written.append(service.patch_extension(rg, name, ext_name, body, timeout))
            else:
                action = "remove extension %s of virtual machine %s/%s" % (ext_name, rg, name)
                written.append(service.finish(action, service.begin_delete_extension(rg, name, ext_name), timeout))
        return written

    def extensions_after(self, plan, written):
        """As Azure holds them after the writes (each extension is its own resource)."""
        if written is None:
            return plan["extensions"]
        return self.service.list_extensions(*self._key())

    def _key(self):
        return self.module.params["resource_group"], self.module.params["name"]

    @staticmethod
    def returns(_extensions):
        return {}

    # A VM has no upgrade policy: a change is applied to it alone, as asked, and there is no rolling flag to set.
    @staticmethod
    def automatic_refusal(_vm, _allowed):
        return None

    @staticmethod
    def rolling_policy_patch(_vm, _wanted):
        return None

    @staticmethod
    def rolling_policy_values(_vm, _patch, _wanted):
        return {}, {}

    @staticmethod
    def unsent_warning(names):
        return ("protected_settings of %s not sent and not compared: already on the VM and "
                "protected_settings_update is on_create (Azure never returns protected settings). Set "
                "protected_settings_update: always to send them." % quoted(names))


# ---------------------------------------------------------------- pure parts

def quoted(names):
    return ", ".join("'%s'" % n for n in names)


def something_to_write(plan):
    """The plan changes the extensions, or carries an upgrade policy patch."""
    return plan["changed"] or plan.get("upgrade_policy") is not None


def health_refusal(target, resource_group, name, removed, allowed):
    """The sentence refusing a change that leaves the target without an Application Health extension, or None."""
    if not removed or allowed:
        return None
    return ("Refusing to remove the Application Health extension %s of %s %s/%s: it is the health signal rollouts "
            "judge %s by, and none would be left. Set allow_health_extension_removal: true to remove it anyway."
            % (quoted(removed), target.noun, resource_group, name, target.judged))


def rolling_flag(vmss):
    """upgradePolicy.automaticOSUpgradePolicy.useRollingUpgradePolicy of a scale set (None when never set)."""
    policy = ((vmss.get("properties") or {}).get("upgradePolicy") or {}).get("automaticOSUpgradePolicy") or {}
    return policy.get("useRollingUpgradePolicy")


def summarise_rolling(status):
    """rollingUpgrades/latest -> {status, progress, error} as vmss_auto_ext_upgrade returns it."""
    props = status.get("properties") or {}
    return {"status": (props.get("runningStatus") or {}).get("code"),
            "progress": props.get("progress") or {},
            "error": props.get("error")}


# ---------------------------------------------------------------- the runs

def declare_extensions(module, target):
    """Add, change or remove the extensions ``module.params`` declare (vmss_extension_sequence, vm_extension)."""
    params = module.params
    rg, name = params["resource_group"], params["name"]
    # Checks that need no Azure state fail before the first request.
    ext_graph.check_user_extensions(params["extensions"], params["state"], params["exclusive"])

    def plan_for(current, read):
        plan = ext_graph.plan(current, params["extensions"], state=params["state"], exclusive=params["exclusive"],
                              protected_settings_update=params["protected_settings_update"])
        if plan["changed"]:
            for refusal in (target.automatic_refusal(read, params.get("allow_automatic_upgrade")),
                            health_refusal(target, rg, name,
                                           ext_graph.health_signal_removed(current, plan["extensions"]),
                                           params["allow_health_extension_removal"])):
                if refusal:
                    module.fail(refusal)
        return plan

    def warn_unsent(current, _plan):
        unsent = ext_graph.unsent_protected_settings(current, params["extensions"], params["state"],
                                                     params["protected_settings_update"])
        if unsent:
            module.warn(target.unsent_warning(unsent))

    _read, current, plan, written = target.change(plan_for, module.check_mode, on_final_plan=warn_unsent)
    after = target.extensions_after(plan, written)
    diff = ext_graph.diff(current, plan)
    return module.result(
        plan["changed"], before=diff["before"], after=diff["after"],
        extensions=[ext_graph.public_view(e) for e in after],
        previous_extensions=[ext_graph.public_view(e) for e in current],
        changes=plan["changes"], **target.returns(after))


def set_automatic_upgrade(module, target, also_changed=False):
    """Set enableAutomaticUpgrade (and autoUpgradeMinorVersion) on the named extensions (vmss_auto_ext_upgrade,
    vm_auto_ext_upgrade); on a scale set also useRollingUpgradePolicy, in the same PATCH. ``also_changed``: the
    module acts besides (starts an upgrade), so the task reports changed."""
    params = module.params
    names = params["extensions"]
    wanted_rolling = params.get("use_rolling_upgrade_policy")

    def plan_for(current, read):
        plan = ext_graph.plan_automatic_upgrade(current, names, params["enabled"],
                                                params["auto_upgrade_minor_version"])
        plan["upgrade_policy"] = target.rolling_policy_patch(read, wanted_rolling)
        return plan

    read, current, plan, _written = target.change(plan_for, module.check_mode)
    rolling_before, rolling_after = target.rolling_policy_values(read, plan["upgrade_policy"], wanted_rolling)
    before = dict(rolling_before, extensions=ext_graph.automatic_upgrade_states(current, names))
    after = dict(rolling_after, extensions=plan["states"])
    return module.result(something_to_write(plan) or also_changed, before=before, after=after,
                         extensions=plan["states"], **rolling_after)


def run_extension_upgrade(service, rg, name, wait, result):
    """Start a scale set's extensionRollingUpgrade; with ``wait`` follow it to the end. A failed upgrade fails the
    task but the result (with the last rolling upgrade status) still reaches the user."""
    poller = service.start_extension_upgrade(rg, name)
    failure = None
    if wait:
        try:
            service.finish_extension_upgrade(rg, name, poller)
        except VmssError as err:
            failure = err
    status = summarise_rolling(service.latest_rolling_upgrade(rg, name))
    if failure is None and wait and status["status"] in ("Faulted", "Cancelled"):
        error = status["error"] or {}
        failure = VmssError("The extension rolling upgrade of scale set %s/%s ended %s: %s: %s"
                            % (rg, name, status["status"], error.get("code"), error.get("message")),
                            code=error.get("code"))
    if failure is not None:
        result["rolling_upgrade"] = status
        failure.result = result  # the task fails but still reports what happened
        raise failure
    return status


def scale_set_service(module):
    return ExtensionService(module.service(), module.wait_timeout, module.poll_interval)


def vm_service(module):
    return module.vm_service()


def exit_with(module, run, service, check_first=None):
    """``module.exit_json`` with ``run(module, service(module))``'s result, or one failure: an ExtensionGraphError's
    sentence names the option; a VmssError carries its ARM code and any result it was given.
    ``check_first(params)``: the checks that need no Azure, run before anything signs in."""
    try:
        if check_first:
            check_first(module.params)
        result = run(module, service(module))
    except ext_graph.ExtensionGraphError as err:
        module.fail(str(err))
    except VmssError as err:
        module.fail_from_error(err, **getattr(err, "result", {}))
    module.exit_json(**result)


def check_declared(params):
    """The Azure-free checks of declared extensions (check_first of the two declaring modules)."""
    ext_graph.check_user_extensions(params["extensions"], params["state"], params["exclusive"])
