"""UniformScaleSet, the rollout target of a Uniform scale set, over a fake service (no SDK, no Azure)."""
import copy

from ansible_collections.vmss.rollout.plugins.module_utils._vmss.targets import UniformScaleSet

WAIT = {"wait_timeout": 5, "poll_interval": 0.01, "health_timeout": 5}


def vm(i, latest=False, prov="Succeeded", protected=False, health="healthy", zone=None):
    view = {"platformUpdateDomain": i % 3, "platformFaultDomain": i % 2, "statuses": [{"code": "PowerState/running"}],
            "vmHealth": {"status": {"code": "HealthState/" + health}}}
    return {"instanceId": str(i), "name": "web_%d" % i, "zones": [zone] if zone else [],
            "properties": {"latestModelApplied": latest, "provisioningState": prov, "instanceView": view,
                           "protectionPolicy": {"protectFromScaleSetActions": protected}}}


class FakeService:
    def __init__(self, vms, settle_after=0):
        self.vms = dict((v["instanceId"], v) for v in vms)
        self.calls = []
        self.settle_after = settle_after

    def list_instances(self, rg, name):
        self.calls.append(("list", rg, name))
        if len([c for c in self.calls if c[0] == "list"]) > self.settle_after:
            for v in self.vms.values():
                if v["properties"]["provisioningState"] == "Updating":
                    v["properties"]["provisioningState"] = "Succeeded"
        return copy.deepcopy(list(self.vms.values()))

    def manual_upgrade(self, rg, name, ids, timeout):
        self.calls.append(("upgrade", list(ids), timeout))
        for i in ids:
            self.vms[i]["properties"]["latestModelApplied"] = True


def test_members_carry_key_placement_health_and_model_state():
    target = UniformScaleSet(FakeService([vm(0), vm(4, latest=True, zone="2", health="unhealthy")]), "rg", "web", WAIT)
    members = dict((m["instance_id"], m) for m in target.members())
    assert (members["4"]["zone"], members["4"]["update_domain"], members["4"]["fault_domain"]) == ("2", 1, 0)
    assert members["4"]["latest_model_applied"] is True and members["0"]["latest_model_applied"] is False
    assert target.unhealthy(list(members.values())) == ["4"]


def test_plan_goes_by_update_domain_and_leaves_protected_and_current_out():
    members = UniformScaleSet(FakeService([vm(0), vm(1), vm(3), vm(4, latest=True), vm(5, protected=True)]), "rg",
                              "web", WAIT).members()
    planned = UniformScaleSet.plan(members)
    assert [b["instance_ids"] for b in planned["batches"]] == [["0", "3"], ["1"]]
    assert planned["excluded"] == [{"instance_id": "4", "reason": "already on the latest model"},
                                   {"instance_id": "5", "reason": "protected from scale-set actions"}]


def test_upgrade_is_one_call_for_the_batch_with_the_wait_timeout_and_the_hook_first():
    service = FakeService([vm(0), vm(1), vm(2)])
    hooked = []
    result, error = UniformScaleSet(service, "rg", "web", WAIT).upgrade(
        ["0", "2"], before_upgrade_call=lambda: hooked.append(len(service.calls)))
    assert error is None and result["upgraded"] == ["0", "2"]
    assert [c for c in service.calls if c[0] == "upgrade"] == [("upgrade", ["0", "2"], 5)]
    assert hooked == [1]  # after the read that picked the batch, before the upgrade call


def test_upgrade_in_check_mode_writes_nothing():
    service = FakeService([vm(0)])
    result, _error = UniformScaleSet(service, "rg", "web", WAIT).upgrade(["0"], check_mode=True)
    assert result["upgraded"] == ["0"] and [c for c in service.calls if c[0] == "upgrade"] == []


def test_settle_reads_until_the_keys_stop_updating():
    service = FakeService([vm(0, prov="Updating"), vm(1)], settle_after=2)
    after = UniformScaleSet(service, "rg", "web", WAIT).settle(["0"])
    assert [m["provisioning_state"] for m in after] == ["Succeeded", "Succeeded"]
    assert len(service.calls) == 3
