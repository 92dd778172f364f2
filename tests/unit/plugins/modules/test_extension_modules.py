"""Unit tests of run() in vmss_extension_sequence and vmss_auto_ext_upgrade, with an in-memory service.

The service double records writes; the modules' logic (check mode, conflict retry, idempotency, returns)
is tested here without the SDK. The real SDK path is covered by tests/integration/modules/.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

_COLLECTIONS = Path(__file__).resolve().parents[4] / ".tmp" / "collections"
_LINK = _COLLECTIONS / "ansible_collections" / "vmss" / "rollout"
if not _LINK.exists():
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    _LINK.symlink_to(Path("../../../.."))
if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssConflict  # noqa: E402
from ansible_collections.vmss.rollout.plugins.modules import vmss_auto_ext_upgrade as auto  # noqa: E402
from ansible_collections.vmss.rollout.plugins.modules import vmss_extension_sequence as seq  # noqa: E402
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.extensions import ExtensionGraphError  # noqa: E402

SECRET = "unit-secret-value-42"


class FakeModule:
    def __init__(self, params, check_mode=False, diff_mode=True):
        self.params = params
        self.check_mode = check_mode
        self.diff_mode = diff_mode
        self.wait_timeout, self.poll_interval = 60, 0.01
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def result(self, changed, before=None, after=None, **values):
        values["changed"] = changed
        if self.diff_mode:
            values["diff"] = {"before": before or {}, "after": after or {}}
        return values


class FakeService:
    """A scale set in memory; PATCH merges like ARM (lists replace) and keeps stored protected settings."""

    def __init__(self, extensions, conflicts=0):
        self.vmss = {"etag": '"1"', "properties": {
            "upgradePolicy": {"mode": "Manual", "automaticOSUpgradePolicy": {"useRollingUpgradePolicy": False}},
            "virtualMachineProfile": {"extensionProfile": {"extensions": copy.deepcopy(extensions)}}}}
        self.writes = []
        self.conflicts = conflicts

    def get_scale_set(self, rg, name):
        return copy.deepcopy(self.vmss)

    def patch_model(self, rg, name, etag, extensions=None, upgrade_policy=None):
        self.writes.append({"etag": etag, "extensions": copy.deepcopy(extensions), "upgrade_policy": upgrade_policy})
        if self.conflicts:
            self.conflicts -= 1
            self.vmss["etag"] = '"%d"' % (int(self.vmss["etag"].strip('"')) + 1)
            raise VmssConflict("412", status=412)
        props = self.vmss["properties"]
        if extensions is not None:
            props["virtualMachineProfile"]["extensionProfile"]["extensions"] = copy.deepcopy(extensions)
        if upgrade_policy is not None:
            props["upgradePolicy"]["automaticOSUpgradePolicy"].update(upgrade_policy["automaticOSUpgradePolicy"])
        return copy.deepcopy(self.vmss)


def health():
    return {"name": "health", "properties": {"publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
                                             "typeHandlerVersion": "2.0", "settings": {"port": 8080}}}


APP_WIRE = {"name": "app", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                          "typeHandlerVersion": "2.1", "settings": {}}}


def seq_params(extensions, **kw):
    options = [dict(dict.fromkeys(seq.EXTENSION_OPTIONS), **e) for e in extensions]
    params = dict(resource_group="rg", name="web", extensions=options, state="present", exclusive=False,
                  protected_settings_update="on_create", allow_automatic_upgrade=False, conflict_retries=3,
                  allow_health_extension_removal=False)
    params.update(kw)
    return params


APP = dict(name="app", publisher="Microsoft.Azure.Extensions", type="CustomScript", type_handler_version="2.1",
           settings={"fileUris": ["u"]}, protected_settings={"commandToExecute": SECRET}, provision_after=["health"])


def test_sequence_check_mode_writes_nothing_and_predicts():
    service = FakeService([health()])
    result = seq.run(FakeModule(seq_params([APP]), check_mode=True), service)
    assert service.writes == []
    assert result["changed"] is True
    assert result["provisioning_order"] == ["health", "app"]
    assert SECRET not in json.dumps(result)


def test_sequence_real_run_then_idempotent():
    service = FakeService([health()])
    first = seq.run(FakeModule(seq_params([APP])), service)
    assert len(service.writes) == 1 and service.writes[0]["etag"] == '"1"'
    assert first["changed"] is True
    assert [e["name"] for e in first["previous_extensions"]] == ["health"]
    assert first["diff"]["after"]["extensions"]["app"]["protected_settings"] == "(set, value hidden)"
    assert SECRET not in json.dumps(first)
    # the write carried the secret (create), the return did not
    assert SECRET in json.dumps(service.writes[0]["extensions"])
    second = seq.run(FakeModule(seq_params([APP])), service)
    assert second["changed"] is False and len(service.writes) == 1


def test_sequence_conflict_is_retried_with_the_new_etag():
    service = FakeService([health()], conflicts=1)
    result = seq.run(FakeModule(seq_params([APP])), service)
    assert [w["etag"] for w in service.writes] == ['"1"', '"2"']
    assert result["changed"] is True


def test_sequence_gives_up_after_repeated_conflicts():
    service = FakeService([health()], conflicts=10)
    with pytest.raises(VmssConflict):
        seq.run(FakeModule(seq_params([APP])), service)
    assert len(service.writes) == 3 + 1


def test_sequence_ordering_error_means_no_write():
    service = FakeService([health()])
    with pytest.raises(ExtensionGraphError, match="names 'nope'"):
        seq.run(FakeModule(seq_params([dict(APP, provision_after=["nope"])])), service)
    assert service.writes == []


def auto_params(**kw):
    params = dict(resource_group="rg", name="web", extensions=["health"], enabled=True,
                  auto_upgrade_minor_version=None, use_rolling_upgrade_policy=None, start_upgrade=False, wait=True,
                  conflict_retries=3)
    params.update(kw)
    return params


def test_auto_upgrade_one_patch_with_both_changes_then_idempotent():
    service = FakeService([health()])
    result = auto.run(FakeModule(auto_params(use_rolling_upgrade_policy=True)), service)
    assert len(service.writes) == 1
    assert service.writes[0]["upgrade_policy"] == {"automaticOSUpgradePolicy": {"useRollingUpgradePolicy": True}}
    assert result["extensions"] == [{"name": "health", "enable_automatic_upgrade": True,
                                     "auto_upgrade_minor_version": None}]
    assert result["diff"]["before"]["use_rolling_upgrade_policy"] is False
    again = auto.run(FakeModule(auto_params(use_rolling_upgrade_policy=True)), service)
    assert again["changed"] is False and len(service.writes) == 1


def test_auto_upgrade_check_mode_writes_nothing():
    service = FakeService([health()])
    result = auto.run(FakeModule(auto_params(), check_mode=True), service)
    assert result["changed"] is True and service.writes == []


def test_auto_upgrade_only_policy_change_does_not_rewrite_extensions():
    ext = health()
    ext["properties"]["enableAutomaticUpgrade"] = True
    service = FakeService([ext])
    auto.run(FakeModule(auto_params(use_rolling_upgrade_policy=True)), service)
    assert service.writes[0]["extensions"] is None


def test_auto_upgrade_conflict_is_retried_with_the_new_etag_and_bounded_by_conflict_retries():
    service = FakeService([health()], conflicts=1)
    auto.run(FakeModule(auto_params(use_rolling_upgrade_policy=True)), service)
    assert [w["etag"] for w in service.writes] == ['"1"', '"2"']
    service = FakeService([health()], conflicts=10)
    with pytest.raises(VmssConflict, match="kept changing under us"):
        auto.run(FakeModule(auto_params(use_rolling_upgrade_policy=True, conflict_retries=1)), service)
    assert len(service.writes) == 2


class Refused(Exception):
    pass


class FailingModule(FakeModule):
    def fail(self, msg, **result):
        raise Refused(msg)


@pytest.mark.parametrize("change", [dict(extensions=[], exclusive=True),
                                    dict(extensions=[{"name": "health"}], state="absent")])
def test_removing_the_health_signal_is_refused_before_any_write(change):
    """extensions: [] with exclusive: true (or health absent) would leave the set with no health signal: refused,
    naming the option that allows it; nothing written."""
    service = FakeService([health(), dict(APP_WIRE)])
    extensions = change.pop("extensions")
    with pytest.raises(Refused, match="Refusing to remove the Application Health extension 'health' of scale set "
                                      "rg/web.*allow_health_extension_removal: true"):
        seq.run(FailingModule(seq_params(extensions, **change)), service)
    assert service.writes == []


def test_removing_the_health_signal_when_allowed_or_replaced():
    service = FakeService([health()])
    result = seq.run(FailingModule(seq_params([], exclusive=True, allow_health_extension_removal=True)), service)
    assert result["changed"] is True and len(service.writes) == 1
    # another Application Health extension in its place keeps the signal: not a removal
    service = FakeService([health()])
    other = dict(name="apphealth", publisher="microsoft.managedservices", type="ApplicationHealthLinux",
                 type_handler_version="2.0", settings={"port": 80})
    result = seq.run(FailingModule(seq_params([other], exclusive=True)), service)
    assert [e["name"] for e in result["extensions"]] == ["apphealth"]
