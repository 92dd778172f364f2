"""The extension-change runner (_vmss/extension_change.py): its pure parts, and the VM target over an in-memory
VmService (the scale-set target's runs are tested through the modules in tests/unit/plugins/modules/)."""
from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import extension_change as runner
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError

SECRET = "unit-vm-secret-7"
HEALTH = {"name": "health", "properties": {"publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
                                           "typeHandlerVersion": "2.0", "settings": {"port": 8080}}}
APP = {"name": "app", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                     "typeHandlerVersion": "2.1", "settings": {"v": 1}}}
USER_KEYS = ("name", "publisher", "type", "type_handler_version", "settings", "protected_settings",
             "auto_upgrade_minor_version", "enable_automatic_upgrade", "suppress_failures", "force_update_tag")


class Refused(Exception):
    pass


class FakeModule:
    def __init__(self, params, check_mode=False):
        self.params = dict(dict(resource_group="rg", name="vm-1"), **params)
        self.check_mode = check_mode
        self.wait_timeout, self.poll_interval = 60, 0.01
        self.log = []  # warnings and refusals, in the order they were given

    def warn(self, text):
        self.log.append(("warn", text))

    def fail(self, msg, **_result):
        self.log.append(("fail", msg))
        raise Refused(msg)

    @staticmethod
    def result(changed, before=None, after=None, **values):
        return dict(values, changed=changed, diff={"before": before, "after": after})


class FakeVmService:
    """One VM and its extensions in memory; every call is recorded, in order. ``fail_writes``: writes raise."""

    def __init__(self, extensions, fail_writes=False):
        self.extensions = copy.deepcopy(extensions)
        self.calls = []
        self.fail_writes = fail_writes

    def _write(self, call):
        self.calls.append(call)
        if self.fail_writes:
            raise VmssError("write refused", code="Conflict", status=409)

    def get_vm(self, rg, name):
        self.calls.append(("get_vm", name))
        return {"name": name, "location": "westeurope"}

    def list_extensions(self, rg, name):
        self.calls.append(("list", name))
        return copy.deepcopy(self.extensions)

    def put_extension(self, rg, name, ext_name, body, timeout):
        self._write(("put", ext_name, copy.deepcopy(body)))
        self.extensions.append({"name": ext_name, "properties": dict(body["properties"])})
        self.extensions[-1]["properties"].pop("protectedSettings", None)
        return body

    def patch_extension(self, rg, name, ext_name, properties, timeout):
        self._write(("patch", ext_name, copy.deepcopy(properties)))
        for ext in self.extensions:
            if ext["name"] == ext_name:
                ext["properties"].update(properties)
        return properties

    def begin_delete_extension(self, rg, name, ext_name):
        self._write(("delete", ext_name))
        self.extensions = [e for e in self.extensions if e["name"] != ext_name]
        return "poller"

    @staticmethod
    def finish(action, poller, timeout):
        return None

    def writes(self):
        return [c for c in self.calls if c[0] in ("put", "patch", "delete")]


def declared(extensions, **params):
    options = [dict(dict.fromkeys(USER_KEYS), **e) for e in extensions]
    values = dict(extensions=options, state="present", exclusive=False, protected_settings_update="on_create",
                  allow_health_extension_removal=False)
    values.update(params)
    return values


NEW_APP = dict(name="app", publisher="Microsoft.Azure.Extensions", type="CustomScript", type_handler_version="2.1",
               settings={"v": 1}, protected_settings={"key": SECRET})


# ---------------------------------------------------------------- pure parts

@pytest.mark.parametrize("target, text", [
    (runner.ScaleSetModel, "Refusing to remove the Application Health extension 'health' of scale set rg/web: it is "
                           "the health signal rollouts judge instances by, and none would be left. Set "
                           "allow_health_extension_removal: true to remove it anyway."),
    (runner.VirtualMachine, "Refusing to remove the Application Health extension 'health' of virtual machine rg/web: "
                            "it is the health signal rollouts judge the VM by, and none would be left. Set "
                            "allow_health_extension_removal: true to remove it anyway."),
])
def test_health_refusal_names_the_target_and_the_option_unless_allowed(target, text):
    assert runner.health_refusal(target, "rg", "web", ["health"], False) == text
    assert runner.health_refusal(target, "rg", "web", ["health"], True) is None
    assert runner.health_refusal(target, "rg", "web", [], False) is None


def test_something_to_write_is_an_extension_change_or_a_policy_patch():
    assert runner.something_to_write({"changed": True}) is True
    assert runner.something_to_write({"changed": False, "upgrade_policy": None}) is False
    assert runner.something_to_write({"changed": False, "upgrade_policy": {"automaticOSUpgradePolicy": {}}}) is True


def test_rolling_policy_patch_only_when_given_and_different():
    vmss = {"properties": {"upgradePolicy": {"automaticOSUpgradePolicy": {"useRollingUpgradePolicy": False}}}}
    patch = runner.ScaleSetModel.rolling_policy_patch(vmss, True)
    assert patch == {"automaticOSUpgradePolicy": {"useRollingUpgradePolicy": True}}
    assert runner.ScaleSetModel.rolling_policy_patch(vmss, False) is None
    assert runner.ScaleSetModel.rolling_policy_patch(vmss, None) is None
    assert runner.ScaleSetModel.rolling_policy_values(vmss, patch, True) == (
        {"use_rolling_upgrade_policy": False}, {"use_rolling_upgrade_policy": True})
    assert runner.ScaleSetModel.rolling_policy_values({}, None, None) == (
        {"use_rolling_upgrade_policy": None}, {"use_rolling_upgrade_policy": None})
    assert runner.VirtualMachine.rolling_policy_patch(None, True) is None
    assert runner.VirtualMachine.rolling_policy_values(None, None, True) == ({}, {})


def test_unsent_warnings_name_the_extensions_in_the_targets_words():
    one = runner.ScaleSetModel.unsent_warning(["app"])
    assert one.startswith("protected_settings of 'app' not sent and not compared: it is already in the model")
    assert "they are already" in runner.ScaleSetModel.unsent_warning(["a", "b"])
    assert runner.VirtualMachine.unsent_warning(["a", "b"]).startswith(
        "protected_settings of 'a', 'b' not sent and not compared: already on the VM")


def test_summarise_rolling_reads_status_progress_and_error():
    status = {"properties": {"runningStatus": {"code": "Faulted"}, "progress": {"failedInstanceCount": 1},
                             "error": {"code": "X"}}}
    assert runner.summarise_rolling(status) == {"status": "Faulted", "progress": {"failedInstanceCount": 1},
                                                "error": {"code": "X"}}
    assert runner.summarise_rolling({}) == {"status": None, "progress": {}, "error": None}


# ---------------------------------------------------------------- the VM target

def test_vm_check_mode_predicts_and_writes_nothing():
    service = FakeVmService([HEALTH])
    module = FakeModule(declared([NEW_APP]), check_mode=True)
    result = runner.declare_extensions(module, runner.VirtualMachine(service, module))
    assert service.writes() == [] and result["changed"] is True
    assert [e["name"] for e in result["extensions"]] == ["health", "app"]
    assert result["diff"]["after"]["extensions"]["app"]["protected_settings"] == "(set, value hidden)"
    assert "provisioning_order" not in result  # a VM has no provisioning order
    assert SECRET not in json.dumps(result)


def test_vm_writes_one_call_per_extension_then_reads_back_and_is_idempotent():
    service = FakeVmService([HEALTH, APP])
    module = FakeModule(declared([dict(name="health", settings={"port": 9090}), NEW_APP, dict(
        name="extra", publisher="P", type="T", type_handler_version="1.0")], exclusive=False))
    result = runner.declare_extensions(module, runner.VirtualMachine(service, module))
    assert service.writes() == [
        ("patch", "health", {"settings": {"port": 9090}}),
        ("put", "extra", {"name": "extra", "location": "westeurope",
                          "properties": {"publisher": "P", "type": "T", "typeHandlerVersion": "1.0"}}),
    ]
    # read the VM (its location serves the create), list, write, list again for the result
    assert [c[0] for c in service.calls] == ["get_vm", "list", "patch", "put", "list"]
    assert [e["name"] for e in result["extensions"]] == ["health", "app", "extra"]
    assert [e["name"] for e in result["previous_extensions"]] == ["health", "app"]
    # app exists: its protected settings are neither sent nor compared, and the user is told
    assert [kind for kind, _text in module.log] == ["warn"] and "'app'" in module.log[0][1]
    again = runner.declare_extensions(module, runner.VirtualMachine(service, module))
    assert again["changed"] is False and len(service.writes()) == 2


def test_vm_refuses_to_remove_its_health_signal_before_any_write():
    service = FakeVmService([HEALTH, APP])
    module = FakeModule(declared([{"name": "health"}], state="absent"))
    with pytest.raises(Refused, match="of virtual machine rg/vm-1"):
        runner.declare_extensions(module, runner.VirtualMachine(service, module))
    assert service.writes() == []


def test_vm_warns_about_unsent_settings_before_writing_but_a_scale_set_after():
    """A VM's plan is final before its writes; a scale set's only once the If-Match write has gone through (a 412
    plans again), so a failed write leaves the VM's warning in the output and none for the scale set."""
    service = FakeVmService([HEALTH, APP], fail_writes=True)
    module = FakeModule(declared([dict(NEW_APP, settings={"v": 2})]))
    with pytest.raises(VmssError):
        runner.declare_extensions(module, runner.VirtualMachine(service, module))
    assert [kind for kind, _text in module.log] == ["warn"]

    class FailingScaleSet:
        @staticmethod
        def get_scale_set(rg, name):
            return {"etag": '"1"', "properties": {"virtualMachineProfile": {"extensionProfile": {
                "extensions": [copy.deepcopy(HEALTH), copy.deepcopy(APP)]}}}}

        @staticmethod
        def patch_model(*_args, **_kwargs):
            raise VmssError("write refused", code="BadRequest", status=400)

    module = FakeModule(declared([dict(NEW_APP, settings={"v": 2})], allow_automatic_upgrade=False,
                                 conflict_retries=3))
    with pytest.raises(VmssError):
        runner.declare_extensions(module, runner.ScaleSetModel(FailingScaleSet(), module))
    assert module.log == []


def test_vm_automatic_upgrade_patches_only_what_differs_and_does_not_read_back():
    enabled = copy.deepcopy(HEALTH)
    enabled["properties"]["enableAutomaticUpgrade"] = True
    other = dict(copy.deepcopy(HEALTH), name="health2")
    service = FakeVmService([enabled, other])
    module = FakeModule(dict(extensions=["health", "HEALTH2"], enabled=True, auto_upgrade_minor_version=None))
    result = runner.set_automatic_upgrade(module, runner.VirtualMachine(service, module))
    assert service.writes() == [("patch", "health2", {"enableAutomaticUpgrade": True})]
    assert [c[0] for c in service.calls] == ["get_vm", "list", "patch"]
    assert result["changed"] is True and "use_rolling_upgrade_policy" not in result
    assert result["diff"]["before"] == {"extensions": [
        {"name": "health", "enable_automatic_upgrade": True, "auto_upgrade_minor_version": None},
        {"name": "health2", "enable_automatic_upgrade": False, "auto_upgrade_minor_version": None}]}
    check = FakeModule(dict(module.params, enabled=False), check_mode=True)
    assert runner.set_automatic_upgrade(check, runner.VirtualMachine(service, check))["changed"] is True
    assert len(service.writes()) == 1
