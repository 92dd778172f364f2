"""VmService (plain VMs and Flexible members) over a fake compute client, and its pure helpers."""
import copy

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError, VmssNotStarted, VmssTimeout
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import vms

SUB = "00000000-0000-0000-0000-000000000001"


class FakePoller:
    def __init__(self, result=None, done=True, error=None):
        self._result, self._done, self._error = result, done, error

    def wait(self, timeout=None):
        self.waited = timeout

    def done(self):
        return self._done

    def status(self):
        return "InProgress"

    def result(self):
        if self._error:
            raise self._error
        return self._result


class FakeResponse:  # what ARM's 404 carries (azure-core reads status_code, headers, reason)
    status_code = 404
    headers = {"x-ms-request-id": "req-404"}
    reason = "Not Found"

    @staticmethod
    def text():
        return ""


def not_found(what):
    err = ResourceNotFoundError(message="(ResourceNotFound) The Resource '%s' was not found." % what)
    err.status_code, err.response = 404, FakeResponse()
    return err


class FakeVms:
    def __init__(self, client):
        self.client = client

    def get(self, rg, name):
        self.client.calls.append(("vm.get", rg, name))
        if name not in self.client.vms:
            raise not_found(name)
        return self.client.vms[name]

    def instance_view(self, rg, name):
        self.client.calls.append(("vm.instance_view", rg, name))
        return self.client.views[name]

    def list(self, rg, filter=None, expand=None):  # pylint: disable=redefined-builtin
        self.client.calls.append(("vm.list", rg, filter) + ((expand,) if expand else ()))
        listed = [copy.deepcopy(v) for v in self.client.vms.values() if filter is None or v.get("_set") in filter]
        for vm in listed if expand == "instanceView" else []:
            vm["properties"]["instanceView"] = self.client.views[vm["name"]]
        return iter(listed)

    def list_all(self):
        self.client.calls.append(("vm.list_all",))
        return iter(list(self.client.vms.values()))


class FakeSets:
    def __init__(self, client):
        self.client = client

    def get(self, rg, name):
        self.client.calls.append(("vmss.get", rg, name))
        if name not in self.client.sets:
            raise not_found(name)
        return self.client.sets[name]

    def begin_update_instances(self, rg, name, body):
        self.client.calls.append(("vmss.manualupgrade", rg, name, body))
        if self.client.refuse:
            raise HttpResponseError(message="(Conflict) busy")
        return FakePoller(done=self.client.done)


class FakeExtensions:
    def __init__(self, client):
        self.client = client

    def get(self, rg, vm, name):
        self.client.calls.append(("ext.get", rg, vm, name))
        if (vm, name) not in self.client.extensions:
            raise not_found(name)
        return self.client.extensions[(vm, name)]

    def list(self, rg, vm):
        return {"value": [e for (v, _n), e in self.client.extensions.items() if v == vm]}

    def begin_create_or_update(self, rg, vm, name, body):
        self.client.calls.append(("ext.put", rg, vm, name, body))
        self.client.extensions[(vm, name)] = dict(body, name=name)
        return FakePoller(result=dict(body, name=name))


class FakeClient:
    def __init__(self, vms_=None, views=None, sets=None, extensions=None, refuse=False, done=True):
        self.vms = vms_ or {}
        self.views = views or {}
        self.sets = sets or {}
        self.extensions = extensions or {}
        self.refuse, self.done = refuse, done
        self.calls = []
        self.virtual_machines = FakeVms(self)
        self.virtual_machine_scale_sets = FakeSets(self)
        self.virtual_machine_extensions = FakeExtensions(self)


def vm(name, scale_set=None, zone=None, **props):
    body = {"name": name, "id": "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/%s"
            % (SUB, name), "zones": [zone] if zone else [], "properties": dict(provisioningState="Succeeded", **props)}
    if scale_set:
        body["_set"] = "virtualMachineScaleSets/%s'" % scale_set
    return body


def view(fd=0, ud=None, health=None, power="running"):
    result = {"platformFaultDomain": fd, "statuses": [{"code": "ProvisioningState/succeeded"},
                                                      {"code": "PowerState/" + power}]}
    if ud is not None:
        result["platformUpdateDomain"] = ud
    if health:
        result["vmHealth"] = {"status": {"code": "HealthState/" + health}}
    return result


def test_flexible_members_are_listed_with_their_instance_views_in_one_filtered_list():
    client = FakeClient({"web_a": vm("web_a", "web"), "web_b": vm("web_b", "web"), "db": vm("db", "other")},
                        {"web_a": view(0), "web_b": view(1, health="unhealthy")})
    members = vms.VmService(client, SUB).list_members_with_views("rg", "web")
    assert [(m[0]["name"], m[1]["platformFaultDomain"]) for m in members] == [("web_a", 0), ("web_b", 1)]
    assert vms.summarize_vm(*members[1], flexible=True)["health_state"] == "unhealthy"
    # $expand=instanceView goes with the scale-set $filter (Azure takes it on the VM list only with a filter)
    assert client.calls == [("vm.list", "rg", "'virtualMachineScaleSet/id' eq '/subscriptions/%s/resourceGroups/rg/"
                                              "providers/Microsoft.Compute/virtualMachineScaleSets/web'" % SUB,
                             "instanceView")]


def test_manual_upgrade_sends_member_names_and_reports_a_refused_call_as_not_started():
    client = FakeClient()
    vms.VmService(client, SUB).manual_upgrade_by_names("rg", "web", ["web_a", "web_c"], 30)
    assert client.calls == [("vmss.manualupgrade", "rg", "web", {"instanceIds": ["web_a", "web_c"]})]
    with pytest.raises(VmssNotStarted, match="upgrade members web_a of Flexible scale set rg/web"):
        vms.VmService(FakeClient(refuse=True), SUB).manual_upgrade_by_names("rg", "web", ["web_a"], 30)
    with pytest.raises(VmssTimeout):
        vms.VmService(FakeClient(done=False), SUB).manual_upgrade_by_names("rg", "web", ["web_a"], 1)


def test_a_scale_set_name_that_is_a_vm_says_not_a_scale_set_and_the_reverse():
    client = FakeClient({"app1": vm("app1")}, sets={"web": {"name": "web", "properties": {}}})
    service = vms.VmService(client, SUB)
    with pytest.raises(VmssError, match="rg/app1 is a virtual machine, not a scale set") as err:
        service.get_scale_set("rg", "app1")
    assert err.value.code == vms.NOT_A_SCALE_SET
    with pytest.raises(VmssError, match="rg/web is a virtual machine scale set, not a virtual machine") as err:
        service.get_vm("rg", "web")
    assert err.value.code == vms.NOT_A_VIRTUAL_MACHINE
    with pytest.raises(VmssError) as err:
        service.get_vm("rg", "nothing")
    assert err.value.status == 404 and "read virtual machine rg/nothing" in err.value.msg


def test_extension_get_is_none_when_missing_and_put_waits_for_its_operation():
    client = FakeClient({"app1": vm("app1")})
    service = vms.VmService(client, SUB)
    assert service.get_extension("rg", "app1", "health") is None
    body = {"location": "westeurope", "properties": {"publisher": "p", "type": "t", "typeHandlerVersion": "1.0",
                                                     "enableAutomaticUpgrade": True}}
    written = service.put_extension("rg", "app1", "health", body, 30)
    assert written["properties"]["enableAutomaticUpgrade"] is True
    assert service.get_extension("rg", "app1", "health")["name"] == "health"
    assert [e["name"] for e in service.list_extensions("rg", "app1")] == ["health"]
    with pytest.raises(VmssError, match="read virtual machine rg/gone"):
        service.get_extension("rg", "gone", "health")


def test_orchestration_mode_checks_name_the_call_and_the_mode():
    flexible = {"name": "web", "properties": {"orchestrationMode": "Flexible"}}
    assert vms.orchestration_mode(flexible) == "Flexible"
    assert vms.orchestration_mode({"name": "old", "properties": {}}) == "Uniform"
    with pytest.raises(VmssError, match="Scale set web uses Flexible orchestration: manualupgrade by instance id "
                                        "works on Uniform scale sets only") as err:
        vms.require_orchestration(flexible, "Uniform", "manualupgrade by instance id")
    assert err.value.code == vms.WRONG_ORCHESTRATION
    assert vms.require_orchestration(flexible, "Flexible", "x") is flexible


def test_summaries_key_by_name_flexible_members_have_no_update_domain():
    member = vms.summarize_vm(vm("web_a", "web", zone="2", latestModelApplied=False), view(fd=1, ud=3, health="healthy"),
                              flexible=True)
    assert (member["instance_id"], member["zone"], member["fault_domain"], member["update_domain"]) == \
        ("web_a", "2", 1, None)
    assert member["latest_model_applied"] is False and member["health_state"] == "healthy"
    assert member["kind"] == "flexible_member" and member["power_state"] == "running"
    plain = vms.summarize_vm(vm("app1", availabilitySet={"id": "/x/avset"}), view(fd=0, ud=2, power="deallocated"))
    assert (plain["update_domain"], plain["availability_set"], plain["power_state"]) == (2, "/x/avset", "deallocated")
    assert plain["latest_model_applied"] is None and plain["health_state"] is None and plain["kind"] == "virtual_machine"
