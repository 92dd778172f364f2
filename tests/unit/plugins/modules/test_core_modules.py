"""run() of vmss_model_image, vmss_instance_upgrade and vmss_info with a fake service (no SDK, no Azure)."""
import copy

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssConflict, VmssError, VmssNotStarted, \
    VmssTimeout
from ansible_collections.vmss.rollout.plugins.module_utils.module import VmssModule, vmss_argument_spec, wait_options_problem
from ansible_collections.vmss.rollout.plugins.modules import vmss_info, vmss_instance_upgrade, vmss_model_image
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import instances as instances_lib, upgrade

OLD = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}
NEW = dict(OLD, version="1.0.1")


class Failed(Exception):
    pass


class FakeAnsible:
    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []
        self.no_log_values = set()

    def fail_json(self, msg, **kwargs):
        raise Failed(msg, kwargs)

    def warn(self, text):
        self.warnings.append(text)


def make_module(module_spec, check_mode=False, diff=False, **params):
    spec = vmss_argument_spec(module_spec)
    values = dict((k, v.get("default")) for k, v in spec.items())
    values.update(resource_group="rg", name="web", wait_timeout=60, poll_interval=0.01)
    values.update(params)
    module = VmssModule.__new__(VmssModule)
    module.ansible = FakeAnsible(values, check_mode, diff)
    module._client = module._auth = None
    return module


def vmss(image=None, mode="Manual", etag='"1"'):
    image = OLD if image is None else image
    return {"name": "web", "id": "/subscriptions/s/x/web", "location": "westeurope", "etag": etag,
            "sku": {"capacity": 3},
            "properties": {"upgradePolicy": {"mode": mode},
                           "virtualMachineProfile": {"storageProfile": {"imageReference": dict(image)},
                                                     "extensionProfile": {"extensions": [
                                                         {"name": "b", "properties": {"provisionAfterExtensions": ["a"],
                                                                                      "protectedSettings": {"k": "v"}}},
                                                         {"name": "a", "properties": {}}]}}}}


class FakeImageService:
    def __init__(self, states, conflicts=0):
        self.states = list(states)
        self.conflicts = conflicts
        self.gets = 0
        self.patches = []

    def get(self, rg, name):
        self.gets += 1
        return copy.deepcopy(self.states[min(self.gets - 1, len(self.states) - 1)])

    def update_model(self, rg, name, properties, etag, timeout):
        self.patches.append((properties, etag))
        if self.conflicts:
            self.conflicts -= 1
            raise VmssConflict("412", status=412)
        result = copy.deepcopy(self.states[min(self.gets - 1, len(self.states) - 1)])
        ref = result["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]
        ref.update(properties.get("virtualMachineProfile", {}).get("storageProfile", {}).get("imageReference", {}))
        result["properties"]["upgradePolicy"].update(properties.get("upgradePolicy", {}))
        result["etag"] = '"9"'
        return result


def image_module(**params):
    return make_module(vmss_model_image.ARGUMENT_SPEC, **params)


def test_model_image_patches_only_the_image_with_the_etag_read():
    service = FakeImageService([vmss()])
    result = vmss_model_image.run(image_module(image=NEW, diff=True), service)
    assert service.patches == [({"virtualMachineProfile": {"storageProfile": {"imageReference": NEW}}}, '"1"')]
    assert result["changed"] is True and result["previous_image"] == OLD and result["image"] == NEW
    assert result["diff"]["before"]["image"] == OLD and result["diff"]["after"]["image"] == NEW
    assert result["upgrade_policy"] == {"mode": "Manual"}


def test_model_image_idempotent_and_check_mode_write_nothing():
    service = FakeImageService([vmss(NEW)])
    result = vmss_model_image.run(image_module(image=dict(NEW, publisher="canonical")), service)
    assert result["changed"] is False and service.patches == [] and "diff" not in result
    service = FakeImageService([vmss()])
    result = vmss_model_image.run(image_module(image=NEW, check_mode=True), service)
    assert result["changed"] is True and result["image"] == NEW and service.patches == []


def test_model_image_reapplies_after_a_concurrent_edit():
    other_edit = vmss(etag='"2"')
    other_edit["properties"]["upgradePolicy"]["rollingUpgradePolicy"] = {"maxBatchInstancePercent": 50}
    service = FakeImageService([vmss(), other_edit], conflicts=1)
    result = vmss_model_image.run(image_module(image=NEW), service)
    assert [etag for _body, etag in service.patches] == ['"1"', '"2"']
    # the second PATCH again carries only our change, so the other edit is kept
    assert service.patches[1][0] == {"virtualMachineProfile": {"storageProfile": {"imageReference": NEW}}}
    assert result["conflicts"] == 1 and result["changed"] is True


def test_model_image_gives_up_after_bounded_conflicts():
    service = FakeImageService([vmss()], conflicts=10)
    with pytest.raises(VmssError, match="kept changing"):
        vmss_model_image.run(image_module(image=NEW, conflict_retries=2), service)
    assert len(service.patches) == 3


def test_model_image_waits_out_a_set_held_by_a_running_upgrade_and_says_so():
    """The rollback's restore right after a timed-out batch: 409 Conflict while the upgrade holds the set is retried
    within wait_timeout (one warning line), then written; before, the restore failed at the first 409."""
    service = FakeImageService([vmss(image=NEW)])
    real_update = service.update_model
    busy = [2]

    def update_model(rg, name, properties, etag, timeout):
        if busy[0]:
            busy[0] -= 1
            service.patches.append((properties, etag))
            raise VmssError("Could not update the model of scale set rg/web: Conflict: concurrent request (HTTP 409)",
                            code="Conflict", status=409)
        return real_update(rg, name, properties, etag, timeout)

    service.update_model = update_model
    module = image_module(image=OLD, wait_timeout=5)
    result = vmss_model_image.run(module, service)
    assert result["changed"] is True and result["image"] == OLD and len(service.patches) == 3
    assert len(module.ansible.warnings) == 1 and "is busy with another operation" in module.ansible.warnings[0]


def test_model_image_refuses_automatic_mode_unless_allowed():
    service = FakeImageService([vmss(mode="Automatic")])
    with pytest.raises(Failed, match="upgradePolicy mode is Automatic.*restart every instance at once"):
        vmss_model_image.run(image_module(image=NEW), service)
    assert service.patches == []
    # switching to Automatic in the same task is refused too
    with pytest.raises(Failed, match="allow_automatic_upgrade"):
        vmss_model_image.run(image_module(image=NEW, upgrade_policy="Automatic"), FakeImageService([vmss()]))
    result = vmss_model_image.run(image_module(image=NEW, allow_automatic_upgrade=True),
                                  FakeImageService([vmss(mode="Automatic")]))
    assert result["changed"] is True
    # moving away from Automatic in the same PATCH is fine
    service = FakeImageService([vmss(mode="Automatic")])
    vmss_model_image.run(image_module(image=NEW, upgrade_policy="Rolling"), service)
    assert service.patches[0][0]["upgradePolicy"] == {"mode": "Rolling"}


def test_model_image_policy_in_the_same_patch():
    service = FakeImageService([vmss()])
    result = vmss_model_image.run(image_module(image=OLD, upgrade_policy="Rolling",
                                               rolling_upgrade_policy={"max_batch_instance_percent": 20}), service)
    assert service.patches[0][0] == {"upgradePolicy": {"mode": "Rolling",
                                                       "rollingUpgradePolicy": {"maxBatchInstancePercent": 20}}}
    assert result["upgrade_policy"]["mode"] == "Rolling"


# ---------------------------------------------------------------- vmss_instance_upgrade

def vm(i, latest=False, prov="Succeeded", protected=False, health="healthy"):
    view = {"platformUpdateDomain": i % 5, "platformFaultDomain": i % 5, "statuses": [{"code": "PowerState/running"}]}
    if health:
        view["vmHealth"] = {"status": {"code": "HealthState/" + health}}
    return {"instanceId": str(i), "name": "web_%d" % i,
            "properties": {"latestModelApplied": latest, "provisioningState": prov, "instanceView": view,
                           "protectionPolicy": {"protectFromScaleSetActions": protected}}}


class FakeFleet:
    def __init__(self, vms, fail=None, settle_after=0):
        self.vms = dict((v["instanceId"], v) for v in vms)
        self.upgrade_calls = []
        self.lists = 0
        self.fail = fail
        self.settle_after = settle_after

    def list_instances(self, rg, name):
        self.lists += 1
        if self.lists > self.settle_after:
            for v in self.vms.values():
                if v["properties"]["provisioningState"] == "Updating":
                    v["properties"].update(provisioningState="Succeeded", latestModelApplied=True)
        return copy.deepcopy(list(self.vms.values()))

    def manual_upgrade(self, rg, name, ids, timeout):
        self.upgrade_calls.append(list(ids))
        for i in ids:
            if self.fail != i:
                self.vms[i]["properties"]["latestModelApplied"] = True
        if self.fail:
            raise VmssError("Could not upgrade: VMExtensionProvisioningError: boom (request id r-1)",
                            code="VMExtensionProvisioningError", request_id="r-1")


def upgrade_module(**params):
    return make_module(vmss_instance_upgrade.ARGUMENT_SPEC, **params)


def test_one_call_for_the_whole_selection_and_skips_reported():
    fleet = FakeFleet([vm(0), vm(5), vm(1), vm(10, latest=True), vm(15, protected=True)])
    result, error = vmss_instance_upgrade.run(upgrade_module(update_domains=[0]), fleet)
    assert error is None and fleet.upgrade_calls == [["0", "5"]]
    assert result["changed"] is True and result["upgraded"] == ["0", "5"]
    assert result["skipped"] == [{"instance_id": "10", "reason": "already on the latest model"},
                                 {"instance_id": "15", "reason": "protected from scale-set actions"}]
    outcomes = dict((i["instance_id"], i["outcome"]) for i in result["instances"])
    assert outcomes == {"0": "upgraded", "5": "upgraded", "10": "skipped", "15": "skipped"}


def test_default_selection_is_everything_outdated_and_second_run_is_a_no_op():
    fleet = FakeFleet([vm(0), vm(1, latest=True), vm(2)])
    result, _error = vmss_instance_upgrade.run(upgrade_module(), fleet)
    assert fleet.upgrade_calls == [["0", "2"]] and result["upgraded"] == ["0", "2"]
    result, _error = vmss_instance_upgrade.run(upgrade_module(), fleet)
    assert fleet.upgrade_calls == [["0", "2"]] and result["changed"] is False and result["instances"] == []


def test_check_mode_reports_without_writing():
    fleet = FakeFleet([vm(0), vm(1)])
    result, _error = vmss_instance_upgrade.run(upgrade_module(instance_ids=["1"], check_mode=True), fleet)
    assert fleet.upgrade_calls == [] and result["changed"] is True and result["upgraded"] == ["1"]


def test_unknown_instance_id_is_a_clear_error_before_any_write():
    fleet = FakeFleet([vm(0)])
    with pytest.raises(upgrade.InputError, match="instance_ids 7 do not exist"):
        vmss_instance_upgrade.run(upgrade_module(instance_ids=["7"]), fleet)
    assert fleet.upgrade_calls == []


def test_update_domain_no_instance_is_in_is_a_clear_error_before_any_write():
    fleet = FakeFleet([vm(0), vm(1), vm(6)])
    with pytest.raises(upgrade.InputError) as err:
        vmss_instance_upgrade.run(upgrade_module(update_domains=[1, 99, 7]), fleet)
    assert str(err.value) == "update_domains 99, 7 match no instance of scale set rg/web (its update domains: 0, 1)."
    assert fleet.upgrade_calls == []


@pytest.mark.parametrize("params,match", [
    ({"instance_ids": ["x"]}, "instance_ids must be"),
    ({"instance_ids": []}, "instance_ids must be"),
    ({"update_domains": [-1]}, "update_domains must be"),
    ({"strategy": "platform", "update_domains": [0]}, "do not apply to strategy: platform"),
    ({"strategy": "platform", "upgrade_delay": 5}, "upgrade_delay do not apply to strategy: platform"),
    ({"upgrade_delay": -1}, r"upgrade_delay must be 0 or more seconds, got -1\."),
])
def test_invalid_inputs(params, match):
    with pytest.raises(upgrade.InputError, match=match):
        upgrade.validate(upgrade_module(**params).params)


def test_upgrade_delay_is_served_right_before_the_only_write_and_never_without_one():
    fleet = FakeFleet([vm(0), vm(1, latest=True)])
    held = []

    def hold():
        held.append((fleet.lists, len(fleet.upgrade_calls)))

    vmss_instance_upgrade.run(upgrade_module(upgrade_delay=10), fleet, hold)
    assert held == [(1, 0)]  # after the read, before the upgrade call
    vmss_instance_upgrade.run(upgrade_module(upgrade_delay=10), fleet, hold)  # nothing left to upgrade
    vmss_instance_upgrade.run(upgrade_module(instance_ids=["0"], upgrade_delay=10, check_mode=True), fleet, hold)
    assert held == [(1, 0)] and fleet.upgrade_calls == [["0"]]


def test_a_read_the_caller_just_made_replaces_the_read_before_the_call():
    fleet = FakeFleet([vm(0), vm(1), vm(2, latest=True)])
    known = [instances_lib.summarize(v) for v in fleet.list_instances("rg", "web")]
    lists_before = fleet.lists
    result, _error = upgrade.run(fleet, upgrade_module().params, known_summaries=known)
    assert fleet.upgrade_calls == [["0", "1"]] and result["upgraded"] == ["0", "1"]
    assert fleet.lists == lists_before + 1  # only the read after the call


def test_instances_still_updating_are_waited_for_not_upgraded_again():
    fleet = FakeFleet([vm(0, prov="Updating"), vm(1)], settle_after=2)
    result, _error = vmss_instance_upgrade.run(upgrade_module(instance_ids=["0", "1"]), fleet)
    assert result["waited_for"] == ["0"]
    assert fleet.upgrade_calls == [["1"]]
    assert result["skipped"] == [{"instance_id": "0", "reason": "already on the latest model"}]


def test_failed_lro_still_returns_the_outcomes():
    fleet = FakeFleet([vm(0), vm(1)], fail="1")
    result, error = vmss_instance_upgrade.run(upgrade_module(), fleet)
    assert error.code == "VMExtensionProvisioningError" and error.request_id == "r-1"
    assert result["upgraded"] == ["0"] and [f["instance_id"] for f in result["failed_instances"]] == ["1"]


class TurningUnhealthy(FakeFleet):
    """Instance 0 reports 'initializing' for the first read after the upgrade, then 'unhealthy'; instance 1 fails."""

    def list_instances(self, rg, name):
        if self.upgrade_calls:
            view = self.vms["0"]["properties"]["instanceView"]
            if view["vmHealth"]["status"]["code"] == "HealthState/initializing" and self.lists > 1:
                view["vmHealth"]["status"]["code"] = "HealthState/unhealthy"
            elif self.lists == 1:
                view["vmHealth"]["status"]["code"] = "HealthState/initializing"
            self.vms["1"]["properties"]["provisioningState"] = "Failed"
        return super().list_instances(rg, name)


def test_app_health_is_waited_for_even_when_an_instance_of_the_batch_failed():
    """The App Health gate of a batch runs whatever else failed in it: the failed LRO of instance 1 must not hide
    instance 0 turning unhealthy (and the failed instance itself is not waited for)."""
    fleet = TurningUnhealthy([vm(0), vm(1)], fail="1")
    module = upgrade_module(wait_for_health=True, health_timeout=5)
    result, error = vmss_instance_upgrade.run(module, fleet)
    assert error.code == "VMExtensionProvisioningError"
    health = dict((i["instance_id"], i["health_state"]) for i in result["scale_set_instances"])
    assert health["0"] == "unhealthy", health
    assert module.ansible.warnings == []


def test_a_timed_out_call_reports_only_what_it_touched_and_does_not_wait_for_health():
    """wait_timeout ran out: instance 0 is still updating (failed, with that reason), 1 finished (upgraded); the
    App Health wait is not started for a call still running."""
    fleet = FakeFleet([vm(0), vm(1)])

    def hanging(rg, name, ids, timeout):
        fleet.upgrade_calls.append(list(ids))
        fleet.vms["0"]["properties"]["provisioningState"] = "Updating"
        fleet.vms["1"]["properties"]["latestModelApplied"] = True
        fleet.settle_after = 99   # instance 0 stays Updating
        raise VmssTimeout("Timed out after 1s waiting for upgrade instances 0, 1.", code="Timeout")

    fleet.manual_upgrade = hanging
    module = upgrade_module(wait_for_health=True, health_timeout=5)
    result, error = vmss_instance_upgrade.run(module, fleet)
    assert error.code == "Timeout" and result["upgrade_call"] == "timed_out"
    assert result["upgraded"] == ["1"]
    assert result["failed_instances"] == [{"instance_id": "0", "reason": "still updating when the upgrade call timed "
                                                                         "out (provisioning state Updating)"}]
    assert fleet.lists == 2 and module.ansible.warnings == []   # the selection read and the one after the call


def test_a_call_that_never_started_reports_its_instances_skipped_not_failed():
    """The connection dropped before Azure answered the manualupgrade POST (not retried): nothing was upgraded, so
    nothing is reported failed; the instances are skipped with the reason, and the error is returned."""
    fleet = FakeFleet([vm(0), vm(1)])

    def dropped(rg, name, ids, timeout):
        fleet.upgrade_calls.append(list(ids))
        raise VmssNotStarted("Could not upgrade instances 0, 1: ServiceResponseError: cannot reach the endpoint.")

    fleet.manual_upgrade = dropped
    result, error = vmss_instance_upgrade.run(upgrade_module(wait_for_health=True), fleet)
    assert isinstance(error, VmssNotStarted) and result["upgrade_call"] == "not_started"
    assert result["upgraded"] == [] and result["failed_instances"] == []
    assert [s["instance_id"] for s in result["skipped"]] == ["0", "1"]
    assert result["skipped"][0]["reason"] == "not upgraded: the upgrade call failed before Azure started it"


def test_a_call_whose_answer_was_lost_after_it_started_is_waited_for_and_judged():
    """The POST's answer was lost but Azure had started the upgrade: the instances found updating are waited for and
    reported by their state (upgraded), not skipped."""
    fleet = FakeFleet([vm(0), vm(1)], settle_after=2)

    def lost_answer(rg, name, ids, timeout):
        fleet.upgrade_calls.append(list(ids))
        fleet.vms["0"]["properties"]["provisioningState"] = "Updating"
        raise VmssNotStarted("Could not upgrade instances 0, 1: ServiceResponseError: connection aborted.")

    fleet.manual_upgrade = lost_answer
    result, _error = vmss_instance_upgrade.run(upgrade_module(), fleet)
    assert result["upgraded"] == ["0"] and result["failed_instances"] == []
    assert [s["instance_id"] for s in result["skipped"]] == ["1"]


def test_an_instance_overtaken_by_a_later_model_edit_was_still_upgraded():
    """A colleague changed the model after our call succeeded: the instances are not on the (newer) latest model,
    yet the call upgraded them; they are reported upgraded, not failed."""
    fleet = FakeFleet([vm(0), vm(1)])
    fleet.manual_upgrade = lambda rg, name, ids, timeout: fleet.upgrade_calls.append(list(ids))
    result, error = vmss_instance_upgrade.run(upgrade_module(), fleet)
    assert error is None and result["upgrade_call"] == "succeeded"
    assert result["upgraded"] == ["0", "1"] and result["failed_instances"] == []


def test_wait_for_health_times_out_with_a_warning_not_a_failure():
    fleet = FakeFleet([vm(0, health="initializing")])
    fleet.manual_upgrade = lambda rg, name, ids, timeout: fleet.vms["0"]["properties"].update(latestModelApplied=True)
    module = upgrade_module(wait_for_health=True, health_timeout=0)
    result, error = vmss_instance_upgrade.run(module, fleet)
    assert error is None and result["instances"][0]["health_state"] == "initializing"
    assert "App Health of instances 0" in module.ansible.warnings[0]


class FakePlatform(FakeFleet):
    """Azure's rolling upgrade: brings every unprotected outdated instance to the latest model."""

    def __init__(self, vms):
        super().__init__(vms)
        self.status = None

    def latest_rolling_upgrade(self, rg, name):
        return {"properties": {"runningStatus": {"code": self.status}}} if self.status else None

    def start_rolling_upgrade(self, rg, name, kind):
        for v in self.vms.values():
            if not v["properties"]["protectionPolicy"]["protectFromScaleSetActions"]:
                v["properties"]["latestModelApplied"] = True
        self.status = "Completed"
        return "poller"

    def finish_rolling_upgrade(self, rg, name, poller, timeout):
        pass


def test_platform_reports_protected_instances_as_skipped_and_gives_every_instance_an_outcome():
    fleet = FakePlatform([vm(0), vm(1, protected=True), vm(2, latest=True)])
    result, error = vmss_instance_upgrade.run(upgrade_module(strategy="platform"), fleet)
    assert error is None and result["upgraded"] == ["0"]
    assert result["skipped"] == [{"instance_id": "1", "reason": "protected from scale-set actions"}]
    assert [(i["instance_id"], i["outcome"], i["reason"]) for i in result["instances"]] == [
        ("0", "upgraded", None), ("1", "skipped", "protected from scale-set actions"), ("2", "current", None)]
    # nothing left to do: no new upgrade, and the protected instance is still reported
    result, _error = vmss_instance_upgrade.run(upgrade_module(strategy="platform"), fleet)
    assert result["changed"] is False and result["skipped"][0]["instance_id"] == "1"


class LaggingPlatform(FakePlatform):
    """rollingUpgrades/latest still shows the previous, Faulted upgrade for two reads after ours started."""

    def __init__(self, vms):
        super().__init__(vms)
        self.record = {"code": "Faulted", "startTime": "2026-11-01T00:00:00+00:00"}
        self.stale_reads = 0

    def latest_rolling_upgrade(self, rg, name):
        if self.status == "Completed" and self.stale_reads < 2:
            self.stale_reads += 1
        elif self.status == "Completed":
            self.record = {"code": "Completed", "startTime": "2026-11-29T00:00:00+00:00"}
        return {"properties": {"runningStatus": dict(self.record)}}


def test_platform_waits_for_its_own_record_not_the_previous_upgrades():
    fleet = LaggingPlatform([vm(0), vm(1)])
    module = upgrade_module(strategy="platform", poll_interval=0.01)
    result, error = vmss_instance_upgrade.run(module, fleet)
    assert error is None, error
    assert result["rolling_upgrade"]["status"] == "Completed" and result["upgraded"] == ["0", "1"]
    assert fleet.stale_reads == 2


# ---------------------------------------------------------------- vmss_info

class FakeInfoService:
    def get(self, rg, name):
        return vmss()

    def list_instances(self, rg, name):
        return [vm(1), vm(0, latest=True)]

    def list_nics(self, rg, name):
        raise VmssError("Could not list NICs: NotFound")


def test_info_brief_order_and_no_protected_settings():
    module = make_module(vmss_info.ARGUMENT_SPEC)
    result = vmss_info.run(module, FakeInfoService())
    assert result["changed"] is False
    assert result["vmss"]["provisioning_order"] == ["a", "b"]
    assert [e["name"] for e in result["vmss"]["extensions"]] == ["a", "b"]
    assert "protectedSettings" not in str(result) and "protected_settings" not in str(result)
    assert [i["instance_id"] for i in result["instances"]] == ["0", "1"]
    assert result["heatmap"][:2] == ["UD0 [#]  0", "UD1 [.]  1"]
    assert "Private IPs unavailable" in module.ansible.warnings[0]


# ---------------------------------------------------------------- VmssModule wrapper

def test_wrapper_spec_merges_auth_wait_and_scale_set_options():
    spec = vmss_argument_spec({"image": {"type": "dict"}})
    assert {"secret", "tenant", "wait_timeout", "poll_interval", "resource_group", "name", "image"} <= set(spec)
    assert spec["secret"]["no_log"] is True
    assert "resource_group" not in vmss_argument_spec({}, scale_set=False)


def test_wrapper_diff_only_in_diff_mode_and_errors_carry_code():
    assert "diff" not in make_module({}).result(True, before={"a": 1}, after={"a": 2})
    assert make_module({}, diff=True).result(True, before={"a": 1}, after={"a": 2})["diff"] == {
        "before": {"a": 1}, "after": {"a": 2}}
    with pytest.raises(Failed) as caught:
        make_module({}).fail_from_error(VmssError("Could not x: Code: m", code="Code", request_id="r", status=409))
    msg, extra = caught.value.args
    assert msg == "Could not x: Code: m" and extra == {"error_code": "Code", "request_id": "r", "status_code": 409}


@pytest.mark.parametrize("option", ["wait_timeout", "poll_interval"])
def test_wait_options_must_be_positive(option, capsys):
    with patch_module_args({"resource_group": "rg", "name": "web", option: 0}):
        with pytest.raises(SystemExit):
            VmssModule({})
    assert "%s must be a positive number of seconds" % option in capsys.readouterr().out


def test_wait_options_problem_names_the_option():
    assert wait_options_problem({"wait_timeout": -5, "poll_interval": 1}).startswith("wait_timeout must be")
    assert wait_options_problem({"wait_timeout": 5, "poll_interval": 0}).startswith("poll_interval must be")
    assert wait_options_problem({"wait_timeout": 5, "poll_interval": 0.5}) is None


def test_constructor_only_parses_arguments():
    # Resolving this cloud would fetch its metadata from a closed port and fail; the constructor must not try.
    args = {"resource_group": "rg", "name": "web", "cloud_environment": "https://127.0.0.1:1",
            "client_id": "c", "secret": "x", "tenant": "t", "subscription_id": "s"}
    with patch_module_args(args):
        module = VmssModule({})
    assert module.params["name"] == "web" and module.params["wait_timeout"] == 1800
    assert module._client is None and module._auth is None
    with pytest.raises(VmssError, match="cloud_environment https://127.0.0.1:1: could not read"):
        module.client()


def test_client_retries_are_bounded_by_wait_timeout():
    # azure-core's RetryPolicy defaults to 7 days per call; the module's wait_timeout must bound it instead.
    pytest.importorskip("azure.mgmt.compute")
    from ansible_collections.vmss.rollout.plugins.module_utils.azure_auth import AzureAuth, KNOWN_CLOUDS

    module = make_module({}, wait_timeout=42)
    module._auth = AzureAuth("service_principal", "sub", KNOWN_CLOUDS["azurecloud"], client_id="c", secret="x",
                             tenant="t")
    policy = module.client()._config.retry_policy
    assert policy.timeout == 42
    assert (policy.total_retries, policy.status_retries) == (12, 10)  # the widened budget is kept
