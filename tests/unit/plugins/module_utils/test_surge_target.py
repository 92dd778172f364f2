"""SurgeScaleSet over a fake service (no SDK): protected instances upgraded in place, never deleted; a scale-out
refused deletes nothing; the base-capacity tag set on the scale-out and removed once no old instance is left."""
import copy

import pytest

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import surge
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.targets import SurgeScaleSet

WAIT = {"wait_timeout": 5, "poll_interval": 0.01, "health_timeout": 1, "in_rotation_seconds": 2}


def vm(i, latest=False, scale_in=False, health="healthy"):
    view = {"platformUpdateDomain": i % 5, "platformFaultDomain": i % 5, "statuses": [{"code": "PowerState/running"}],
            "vmHealth": {"status": {"code": "HealthState/" + health}}}
    props = {"latestModelApplied": latest, "provisioningState": "Succeeded", "instanceView": view,
             "protectionPolicy": {"protectFromScaleIn": scale_in}}
    return {"instanceId": str(i), "properties": props}


class FakeSurgeService:
    def __init__(self, vms, refuse=None, new_health="healthy"):
        self.vms = dict((v["instanceId"], v) for v in vms)
        self.tags = {}
        self.calls = []
        self.refuse = refuse
        self.new_health = new_health

    def get(self, rg, name):
        return {"tags": dict(self.tags)}

    def list_instances(self, rg, name):
        return copy.deepcopy(list(self.vms.values()))

    def list_nics(self, rg, name):
        return []

    def scale_out(self, rg, name, capacity, tags, timeout):
        self.calls.append(("scale_out", capacity, dict(tags)))
        if self.refuse:
            raise self.refuse
        self.tags = dict(tags)
        next_id = max(int(i) for i in self.vms) + 1
        for new_id in range(next_id, next_id + capacity - len(self.vms)):
            self.vms[str(new_id)] = vm(new_id, latest=True, health=self.new_health)

    def delete_instances(self, rg, name, ids, timeout):
        self.calls.append(("delete", sorted(ids)))
        for i in ids:
            del self.vms[i]

    def manual_upgrade(self, rg, name, ids, timeout):
        self.calls.append(("upgrade", list(ids)))
        for i in ids:
            self.vms[i]["properties"]["latestModelApplied"] = True

    def set_tags(self, rg, name, tags, timeout):
        self.calls.append(("tags", dict(tags)))
        self.tags = dict(tags)


def target(service, protected="report"):
    slept = []
    return SurgeScaleSet(service, "rg", "web", dict(WAIT, protected=protected), slept.append), slept


def test_protected_instance_is_upgraded_in_place_and_never_deleted():
    service = FakeSurgeService([vm(0), vm(1, scale_in=True), vm(2)])
    hooks = []
    surge_target, slept = target(service, "upgrade_in_place")
    result, error = surge_target.upgrade(["0", "1", "2"], before_upgrade_call=lambda step, victims=(): hooks.append(
        (step, [v["instance_id"] for v in victims])))
    assert error is None
    assert service.calls[0] == ("scale_out", 5, {surge.BASE_TAG: "3"})
    assert ("delete", ["0", "2"]) in service.calls and ("upgrade", ["1"]) in service.calls
    assert sorted(service.vms) == ["1", "3", "4"]
    assert hooks == [("scale out", []), ("delete", ["0", "2"]), ("upgrade in place", [])]
    assert slept == [2]  # the in-rotation wait, before the delete
    assert sorted(result["upgraded"], key=int) == ["1", "3", "4"] and result["replaced"] == ["0", "2"]
    assert result["added"] == ["3", "4"]
    # no old instance left: the base tag goes
    assert service.calls[-1] == ("tags", {}) and service.tags == {}


def test_reported_protected_instance_stays_on_the_old_model():
    service = FakeSurgeService([vm(0), vm(1, scale_in=True)])
    result, error = target(service)[0].upgrade(["0", "1"])
    assert error is None and sorted(service.vms) == ["1", "2"]
    assert {"instance_id": "1", "reason": surge.REASON_PROTECTED} in result["skipped"]
    assert not [c for c in service.calls if c[0] == "upgrade"]


def test_a_refused_scale_out_deletes_nothing():
    service = FakeSurgeService([vm(0), vm(1)], refuse=VmssError("QuotaExceeded: no cores left", code="QuotaExceeded"))
    with pytest.raises(VmssError, match="QuotaExceeded"):
        target(service)[0].upgrade(["0"])
    assert [c[0] for c in service.calls] == ["scale_out"] and sorted(service.vms) == ["0", "1"]


def test_new_instances_that_stay_unhealthy_are_deleted_and_no_old_one_is():
    service = FakeSurgeService([vm(0), vm(1), vm(2)], new_health="unhealthy")
    result, error = target(service)[0].upgrade(["0", "1"], warn=lambda text: None)
    assert "did not become healthy" in str(error) and "no old instance was deleted" in str(error)
    assert ("delete", ["3", "4"]) in service.calls and sorted(service.vms) == ["0", "1", "2"]
    assert result["instances"] == [] and result["upgrade_call"] == "failed"


def test_the_base_tag_goes_once_no_old_instance_is_left_and_stays_before():
    """After a rollback restored the model, the old instances are current again: the tag an earlier batch left goes."""
    service = FakeSurgeService([vm(0, latest=True), vm(1)])
    service.tags = {surge.BASE_TAG: "2", "owner": "web"}
    surge_target = target(service)[0]
    assert surge_target.release_base(surge_target.members()) is False
    assert service.tags == {surge.BASE_TAG: "2", "owner": "web"}
    service.vms["1"]["properties"]["latestModelApplied"] = True
    assert surge_target.release_base(surge_target.members()) is True
    assert service.tags == {"owner": "web"}
    assert surge_target.release_base(surge_target.members()) is False and len(service.calls) == 1
