"""FlexibleScaleSet and VirtualMachineGroup, the rollout targets keyed by VM name, over a fake VmService."""
import copy

import pytest

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError, VmssNotStarted
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import vm_group
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.upgrade import InputError

WAIT = {"wait_timeout": 5, "poll_interval": 0.01, "health_timeout": 0.05}
NEW = {"name": "app", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "type_handler_version": "2.1",
       "settings": {"version": "2"}}
OLD = dict(NEW, settings={"version": "1"})


def vm(name, fd=0, ud=None, zone=None, latest=False):
    return {"name": name, "location": "westeurope", "zones": [zone] if zone else [],
            "properties": {"provisioningState": "Succeeded", "latestModelApplied": latest},
            "_view": {"platformFaultDomain": fd, "platformUpdateDomain": ud,
                      "statuses": [{"code": "PowerState/running"}],
                      "vmHealth": {"status": {"code": "HealthState/healthy"}}}}


class FakeVmService:
    def __init__(self, machines, orchestration="Flexible", unhealthy_after=(), refuse=(), ext=None, locks=None):
        self.vms = dict((m["name"], m) for m in machines)
        self.locks = dict(locks or {})
        self.orchestration = orchestration
        self.unhealthy_after = set(unhealthy_after)
        self.refuse = set(refuse)
        self.ext = dict((m["name"], copy.deepcopy(ext)) for m in machines) if ext else {}
        self.busy = {}   # name -> how many more writes a 409 Conflict refuses (another operation holds the VM)
        self.calls = []

    def _pairs(self, names):
        return [(copy.deepcopy(self.vms[n]), copy.deepcopy(self.vms[n]["_view"])) for n in names]

    def get_scale_set(self, rg, name):
        return {"name": name, "properties": {"orchestrationMode": self.orchestration}}

    def list_members_with_views(self, rg, name):
        return self._pairs(sorted(self.vms))

    def list_vms_with_views(self, rg, names):
        return self._pairs(names)

    def get_vm(self, rg, name):
        return self.vms[name]

    def lock_reasons(self, rg, names, scale_set=None):
        self.calls.append(("locks",))
        return dict((name, reason) for name, reason in self.locks.items() if name in names)

    def list_nics(self, rg):
        self.calls.append(("nic",))
        return [{"id": "/nics/%s-nic" % name, "properties": {
            "virtualMachine": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/"
                                     + name},
            "ipConfigurations": [{"properties": {"privateIPAddress": "127.0.0.%d" % (index + 1)}}]}}
            for index, name in enumerate(sorted(self.vms))]

    def _after_change(self, name):
        if name in self.unhealthy_after:
            self.vms[name]["_view"]["vmHealth"]["status"]["code"] = "HealthState/unhealthy"

    def manual_upgrade_by_names(self, rg, name, names, timeout):
        self.calls.append(("manualupgrade", list(names)))
        for member in names:
            self.vms[member]["properties"]["latestModelApplied"] = True
            self._after_change(member)

    def get_extension(self, rg, name, extension):
        return copy.deepcopy(self.ext.get(name))

    def begin_put_extension(self, rg, name, extension, body):
        self.calls.append(("put", name, body["properties"]["settings"]))
        if name in self.refuse:
            raise VmssNotStarted("Could not write extension app of virtual machine rg/%s: Conflict" % name)
        if self.busy.get(name):
            self.busy[name] -= 1
            raise VmssNotStarted("Could not write extension app of virtual machine rg/%s: Conflict" % name,
                                 code="Conflict", status=409)
        self.ext[name] = dict(copy.deepcopy(body), name=extension)
        self._after_change(name)
        return name

    def begin_delete_extension(self, rg, name, extension):
        self.calls.append(("delete", name))
        self.ext.pop(name, None)
        return name

    def finish(self, action, poller, timeout):
        return None


def arm(user):
    return vm_group.extension_body(user, "westeurope")


def test_flexible_members_plan_by_fault_domain_and_upgrade_by_name_in_one_call():
    service = FakeVmService([vm("web_a", 0, zone="1"), vm("web_b", 1, zone="1"), vm("web_c", 0, zone="1"),
                             vm("web_d", 0, zone="2", latest=True)])
    target = vm_group.FlexibleScaleSet(service, "rg", "web", WAIT)
    assert target.check()["name"] == "web"
    members = target.members()
    assert all(m["update_domain"] is None for m in members)
    assert [m["private_ip"] for m in members] == ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
    target.members()
    assert len([c for c in service.calls if c[0] == "nic"]) == 1  # the NICs listed once, not at every read
    service.calls = []
    planned = target.plan(members)
    assert [(b["label"], b["instance_ids"]) for b in planned["batches"]] == [
        ("zone 1, fault domain 0", ["web_a", "web_c"]), ("zone 1, fault domain 1", ["web_b"])]
    result, error = target.upgrade(["web_a", "web_c"], known_members=members)
    assert error is None and result["upgraded"] == ["web_a", "web_c"]
    assert service.calls == [("manualupgrade", ["web_a", "web_c"])]


def test_a_uniform_set_is_refused_by_the_flexible_target():
    target = vm_group.FlexibleScaleSet(FakeVmService([vm("x")], orchestration="Uniform"), "rg", "web", WAIT)
    with pytest.raises(VmssError, match="uses Uniform orchestration: the Flexible rollout"):
        target.check()


def test_unknown_member_names_are_one_input_error_before_any_call():
    service = FakeVmService([vm("web_a")])
    with pytest.raises(InputError, match="members web_z are not in Flexible scale set rg/web"):
        vm_group.FlexibleScaleSet(service, "rg", "web", WAIT).upgrade(["web_z"])
    assert [c for c in service.calls if c[0] not in ("nic", "locks")] == []


def test_vm_group_puts_the_extension_on_outdated_vms_and_judges_health():
    machines = [vm("app%d" % i, ud=i % 2) for i in range(4)]
    service = FakeVmService(machines, unhealthy_after={"app2"}, ext=arm(OLD))
    service.ext["app3"] = dict(arm(NEW), name="app")
    target = vm_group.VirtualMachineGroup(service, "rg", ["app%d" % i for i in range(4)], NEW, WAIT)
    members = target.members()
    assert [m["latest_model_applied"] for m in members] == [False, False, False, True]
    assert vm_group.previous_extension(members)["settings"] == {"version": "1"}
    planned = target.plan(members)
    assert [b["instance_ids"] for b in planned["batches"]] == [["app0", "app2"], ["app1"]]
    result, error = target.upgrade(["app0", "app2"], known_members=members)
    assert error is None and result["upgraded"] == ["app0", "app2"]
    assert target.unhealthy(result["scale_set_instances"]) == ["app2"]
    puts = [c for c in service.calls if c[0] == "put"]
    assert puts == [("put", "app0", {"version": "2"}), ("put", "app2", {"version": "2"})]
    back, error = target.rollback(["app0", "app2"], vm_group.previous_extension(members))
    assert error is None and back == ["app0", "app2"]
    assert service.ext["app0"]["properties"]["settings"] == {"version": "1"}


def test_vm_group_call_refused_on_every_vm_is_not_started_and_created_extensions_roll_back_by_removal():
    service = FakeVmService([vm("app0"), vm("app1")], refuse={"app0", "app1"})
    target = vm_group.VirtualMachineGroup(service, "rg", ["app0", "app1"], NEW, WAIT)
    result, error = target.upgrade(["app0", "app1"])
    assert isinstance(error, VmssNotStarted) and result["upgrade_call"] == "not_started"
    assert [i["outcome"] for i in result["instances"]] == ["skipped", "skipped"]
    service.refuse = set()
    assert vm_group.previous_extension(target.members()) is None
    target.upgrade(["app0"])
    back, error = target.rollback(["app0"], None)
    assert back == ["app0"] and "app0" not in service.ext and ("delete", "app0") in service.calls


def test_a_vm_busy_with_another_operation_is_waited_out_within_wait_timeout_then_reported():
    service = FakeVmService([vm("app0"), vm("app1")], ext=arm(NEW))
    service.busy = {"app0": 2, "app1": 10 ** 6}   # app0: a colleague's write ending soon; app1: held for good
    warnings = []
    target = vm_group.VirtualMachineGroup(service, "rg", ["app0", "app1"], NEW,
                                          dict(WAIT, wait_timeout=0.05), "none")
    back, error = target.rollback(["app0", "app1"], OLD, warnings.append)
    assert back == ["app0"] and service.ext["app0"]["properties"]["settings"] == {"version": "1"}
    assert isinstance(error, VmssError) and error.status == 409 and "app1" in error.msg
    assert len([c for c in service.calls if c[:2] == ("put", "app0")]) == 3   # refused twice, then written
    busy = [w.split(" is busy")[0] for w in warnings if " is busy " in w]
    assert busy == ["Virtual machine rg/app0", "Virtual machine rg/app1"]


def test_extension_input_is_checked_and_protected_settings_are_never_compared():
    with pytest.raises(InputError, match="extension app: missing type_handler_version"):
        vm_group.check_extension({"name": "app", "publisher": "p", "type": "t"})
    with pytest.raises(InputError, match=r"unknown option\(s\) colour"):
        vm_group.check_extension(dict(NEW, colour="red"))
    secret = dict(NEW, protected_settings={"token": "s3cret"})
    assert vm_group.extension_is_current(arm(NEW), secret)
    assert not vm_group.extension_is_current(arm(OLD), NEW)
    failed = arm(NEW)
    failed["properties"]["provisioningState"] = "Failed"
    assert not vm_group.extension_is_current(failed, NEW)


def test_kind_auto_comes_from_the_instances_or_the_scale_set_and_flexible_is_never_rolled_as_uniform():
    def unread():
        raise AssertionError("no read needed")

    flexible = {"name": "web", "properties": {"orchestrationMode": "Flexible"}}
    assert vm_group.resolve_kind("auto", [{"instance_id": "0"}], unread) == "uniform"
    assert vm_group.resolve_kind("auto", [{"instance_id": "web_a", "kind": "flexible_member"}], unread) == "flexible"
    assert vm_group.resolve_kind("auto", None, lambda: flexible) == "flexible"
    assert vm_group.resolve_kind("auto", None, lambda: {"name": "web", "properties": {}}) == "uniform"
    assert vm_group.resolve_kind("virtual_machines", None, unread) == "virtual_machines"
    with pytest.raises(VmssError, match="kind uniform was given, but the instances are members of a Flexible"):
        vm_group.resolve_kind("uniform", [{"instance_id": "web_a", "kind": "flexible_member"}], unread)
    with pytest.raises(VmssError, match="Scale set web uses Flexible orchestration: kind uniform works on Uniform"):
        vm_group.resolve_kind("uniform", None, lambda: flexible)


def test_vm_group_summaries_and_results_never_carry_protected_settings():
    secret = dict(NEW, protected_settings={"token": "s3cret-token"})
    service = FakeVmService([vm("app0"), vm("app1")], ext=arm(OLD))
    target = vm_group.VirtualMachineGroup(service, "rg", ["app0", "app1"], secret, WAIT)
    result, error = target.upgrade(["app0"])
    assert error is None and result["upgraded"] == ["app0"]
    assert service.ext["app0"]["properties"]["protectedSettings"] == {"token": "s3cret-token"}  # sent to Azure
    assert "s3cret-token" not in repr(result) and "s3cret-token" not in repr(target.members())


def test_locked_flexible_members_and_vms_are_protected_and_skipped_with_the_lock_named():
    reason = "protected by resource lock keep (ReadOnly)"
    service = FakeVmService([vm("web_a", 0), vm("web_b", 1)], locks={"web_b": reason})
    target = vm_group.FlexibleScaleSet(service, "rg", "web", WAIT)
    members = target.members()
    target.members()
    assert len([c for c in service.calls if c[0] == "locks"]) == 1  # read once per run, not at every poll
    assert [(m["instance_id"], m["protected"], m.get("protected_reason")) for m in members] == [
        ("web_a", False, None), ("web_b", True, reason)]
    planned = target.plan(members)
    assert [b["instance_ids"] for b in planned["batches"]] == [["web_a"]]
    assert planned["excluded"] == [{"instance_id": "web_b", "reason": reason}]
    service.calls = []
    result, error = target.upgrade(["web_a", "web_b"], known_members=members)
    assert error is None and result["upgraded"] == ["web_a"]
    assert result["skipped"] == [{"instance_id": "web_b", "reason": reason}]
    assert [c for c in service.calls if c[0] == "manualupgrade"] == [("manualupgrade", ["web_a"])]

    group = vm_group.VirtualMachineGroup(FakeVmService([vm("app0"), vm("app1")], ext=arm(OLD),
                                                       locks={"app0": reason}), "rg", ["app0", "app1"], NEW, WAIT)
    result, error = group.upgrade(["app0", "app1"])
    assert error is None and result["upgraded"] == ["app1"]
    assert [c[1] for c in group.service.calls if c[0] == "put"] == ["app1"]


def test_a_retry_of_a_busy_vm_asks_the_guard_first_and_writes_nothing_once_it_refuses():
    class Gone(Exception):
        pass

    asked = []

    def guard(what):
        asked.append(what)
        raise Gone(what)   # the ansible-playbook that ran the rollout was killed meanwhile

    service = FakeVmService([vm("app0")], ext=arm(NEW))
    service.busy = {"app0": 10 ** 6}
    target = vm_group.VirtualMachineGroup(service, "rg", ["app0"], NEW, WAIT, "none", before_retry=guard)
    with pytest.raises(Gone):
        target.rollback(["app0"], OLD)
    assert asked == ["retrying the extension write on virtual machine rg/app0"]
    assert len([c for c in service.calls if c[:2] == ("put", "app0")]) == 1   # the first try only


def test_busy_vms_share_one_wait_timeout_for_the_whole_write():
    service = FakeVmService([vm("app0"), vm("app1")], ext=arm(NEW))
    service.busy = {"app0": 10 ** 6, "app1": 10 ** 6}
    target = vm_group.VirtualMachineGroup(service, "rg", ["app0", "app1"], NEW,
                                          dict(WAIT, wait_timeout=0.2, poll_interval=0.05), "none")
    target.rollback(["app0", "app1"], OLD)
    # app0 spent the whole wait: app1 is tried once at the deadline, not waited for again
    assert len([c for c in service.calls if c[:2] == ("put", "app0")]) > 2
    assert len([c for c in service.calls if c[:2] == ("put", "app1")]) == 1
