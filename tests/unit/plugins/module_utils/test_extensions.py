"""Unit tests for the pure extension graph logic (no SDK, no emulator)."""
from __future__ import annotations

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

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import extensions as ex  # noqa: E402

SECRET = "s3cr3t-Pr0tected-Value"


def arm(name, after=None, settings=None, no_settings=False, **props):
    p = {"publisher": "Pub." + name, "type": "T" + name, "typeHandlerVersion": "1.0"}
    if not no_settings:
        p["settings"] = settings if settings is not None else {}
    if after:
        p["provisionAfterExtensions"] = list(after)
    p.update(props)
    return {"name": name, "type": "Microsoft.Compute/virtualMachineScaleSets/extensions",
            "id": "/x/extensions/" + name, "properties": p}


def user(name, **options):
    base = dict((k, None) for k, _wire in ex.FIELD_MAP)
    base["name"] = name
    base.update(options)
    return base


def full_user(name, after=None, **options):
    options.setdefault("settings", {})
    return user(name, publisher="Pub." + name, type="T" + name, type_handler_version="1.0",
                provision_after=after, **options)


# ------------------------------------------------------------ conversion

def test_from_arm_reads_handler_type_not_resource_type():
    view = ex.from_arm(arm("health", publisher="Microsoft.ManagedServices", type="ApplicationHealthLinux"))
    assert view["type"] == "ApplicationHealthLinux"
    assert view["publisher"] == "Microsoft.ManagedServices"
    assert "protected_settings" not in view


def test_to_arm_puts_handler_type_in_properties_and_skips_unset():
    out = ex.to_arm(full_user("a", after=["b"], protected_settings={"k": SECRET}))
    assert out == {"name": "a", "properties": {
        "publisher": "Pub.a", "type": "Ta", "typeHandlerVersion": "1.0", "settings": {},
        "provisionAfterExtensions": ["b"], "protectedSettings": {"k": SECRET}}}


def test_public_view_never_has_protected_settings():
    view = ex.public_view(arm("a", protectedSettings={"k": SECRET}))
    assert SECRET not in json.dumps(view)


# ------------------------------------------------------------ order

def test_provisioning_order_respects_dependencies_and_keeps_list_order_for_ties():
    exts = [arm("c", after=["b"]), arm("b", after=["a"]), arm("z"), arm("a")]
    assert ex.provisioning_order(exts) == ["z", "a", "b", "c"]


def test_provisioning_order_accepts_user_shape_and_is_deterministic():
    exts = [full_user("c", after=["a", "b"]), full_user("a"), full_user("b")]
    assert ex.provisioning_order(exts) == ["a", "b", "c"]
    assert ex.provisioning_order(list(reversed(exts))) == ["b", "a", "c"]


def test_provisioning_order_ignores_unknown_names_and_raises_on_cycle():
    assert ex.provisioning_order([arm("a", after=["gone"])]) == ["a"]
    with pytest.raises(ex.ExtensionGraphError, match="cycle"):
        ex.provisioning_order([arm("a", after=["b"]), arm("b", after=["a"])])


def test_empty_profile_has_empty_order():
    assert ex.provisioning_order([]) == []


# ------------------------------------------------------------ validation

def test_cycle_is_spelled_out():
    exts = [arm("a", after=["c"]), arm("b", after=["a"]), arm("c", after=["b"])]
    with pytest.raises(ex.ExtensionGraphError) as err:
        ex.validate_graph(exts)
    assert "a -> b -> c -> a" in str(err.value)
    assert str(err.value).startswith("extensions:")


def test_self_reference_is_a_cycle():
    with pytest.raises(ex.ExtensionGraphError, match="a -> a"):
        ex.plan([], [full_user("a", after=["a"])])


def test_unknown_name_in_provision_after():
    with pytest.raises(ex.ExtensionGraphError) as err:
        ex.plan([arm("health")], [full_user("app", after=["helth"])])
    msg = str(err.value)
    assert "provision_after of extension 'app' names 'helth'" in msg
    assert "health" in msg  # lists the known names


def test_dependency_without_settings_asks_for_empty_settings():
    current = [arm("health", no_settings=True)]
    with pytest.raises(ex.ExtensionGraphError) as err:
        ex.plan(current, [full_user("app", after=["health"])])
    assert "settings: {}" in str(err.value) and "'health'" in str(err.value)
    # giving it settings: {} fixes it, in the same run
    result = ex.plan(current, [user("health", settings={}), full_user("app", after=["health"])])
    assert [c["name"] for c in result["changes"]] == ["health", "app"]


def test_removing_a_dependency_with_state_absent_is_refused():
    current = [arm("health"), arm("app", after=["health"])]
    with pytest.raises(ex.ExtensionGraphError) as err:
        ex.plan(current, [user("health")], state="absent")
    assert "cannot remove extension 'health'" in str(err.value)
    assert "'app'" in str(err.value)


def test_removing_a_dependency_by_exclusive_is_refused_but_both_can_go():
    current = [arm("health"), arm("app", after=["health"]), arm("other")]
    with pytest.raises(ex.ExtensionGraphError, match="cannot remove extension 'health'"):
        ex.plan(current, [user("app")], exclusive=True)
    result = ex.plan(current, [user("health"), user("app")], state="absent")
    assert [e["name"] for e in result["extensions"]] == ["other"]
    assert {c["name"] for c in result["changes"]} == {"health", "app"}


def test_duplicate_names_refused():
    with pytest.raises(ex.ExtensionGraphError, match="listed twice"):
        ex.plan([], [full_user("a"), full_user("a")])


def test_new_extension_needs_publisher_type_version():
    with pytest.raises(ex.ExtensionGraphError) as err:
        ex.plan([], [user("new", settings={})])
    assert "extensions[0]" in str(err.value)
    assert "publisher and type and type_handler_version are required" in str(err.value)


# ------------------------------------------------------------ plan and diff

def test_identical_input_means_no_change():
    current = [arm("health", settings={"port": 80}), arm("app", after=["health"])]
    desired = [full_user("health", settings={"port": 80}), full_user("app", after=["health"])]
    result = ex.plan(current, desired)
    assert result["changed"] is False and result["changes"] == []


def test_only_user_set_options_are_compared():
    current = [arm("a", autoUpgradeMinorVersion=True, forceUpdateTag="v1")]
    assert ex.plan(current, [user("a", settings={})])["changed"] is False
    result = ex.plan(current, [user("a", force_update_tag="v2")])
    assert result["changes"] == [{"name": "a", "action": "update", "fields": ["force_update_tag"]}]
    assert result["extensions"][0]["properties"]["forceUpdateTag"] == "v2"
    assert result["extensions"][0]["properties"]["autoUpgradeMinorVersion"] is True


def test_defaults_compare_equal_to_absent_and_order_of_provision_after_is_irrelevant():
    current = [arm("a"), arm("b"), arm("c", after=["a", "b"])]
    desired = [user("a", suppress_failures=False, provision_after=[]), user("c", provision_after=["b", "a"])]
    assert ex.plan(current, desired)["changed"] is False


def test_protected_settings_on_create_never_compared_for_existing():
    current = [arm("a")]
    result = ex.plan(current, [full_user("a", protected_settings={"k": SECRET})])
    assert result["changed"] is False
    assert SECRET not in json.dumps(result)


def test_protected_settings_always_sends_and_reports_changed_but_hides_value_in_diff():
    current = [arm("a")]
    result = ex.plan(current, [user("a", protected_settings={"k": SECRET})], protected_settings_update="always")
    assert result["changed"] is True
    assert result["extensions"][0]["properties"]["protectedSettings"] == {"k": SECRET}
    d = ex.diff(current, result)
    assert SECRET not in json.dumps(d)
    assert d["after"]["extensions"]["a"]["protected_settings"] == "(changed, value hidden)"
    assert "protected_settings" not in d["before"]["extensions"]["a"]


def test_create_sends_protected_settings_and_diff_notes_them():
    result = ex.plan([], [full_user("a", protected_settings={"k": SECRET})])
    assert result["changes"][0]["action"] == "create"
    assert result["extensions"][0]["properties"]["protectedSettings"] == {"k": SECRET}
    d = ex.diff([], result)
    assert d["after"]["extensions"]["a"]["protected_settings"] == "(set, value hidden)"
    assert SECRET not in json.dumps(d)


def test_current_protected_settings_are_never_carried_into_the_write():
    current = [arm("a", protectedSettings={"k": SECRET}), arm("b")]
    result = ex.plan(current, [user("b", settings={"x": 1})])
    assert SECRET not in json.dumps(result)
    assert SECRET not in json.dumps(ex.arm_profile_for_write(result))


def test_exclusive_removes_unlisted_and_new_ones_are_appended():
    current = [arm("a"), arm("b")]
    result = ex.plan(current, [user("b"), full_user("c", after=["b"])], exclusive=True)
    assert [e["name"] for e in result["extensions"]] == ["b", "c"]
    assert [(c["name"], c["action"]) for c in result["changes"]] == [("a", "remove"), ("c", "create")]
    d = ex.diff(current, result)
    assert set(d["before"]["extensions"]) == {"a", "b"} and set(d["after"]["extensions"]) == {"b", "c"}


def test_absent_of_missing_extension_is_idempotent():
    result = ex.plan([arm("a")], [user("zzz")], state="absent")
    assert result["changed"] is False


def test_write_profile_drops_read_only_properties_and_keeps_unmanaged_ones():
    vault = {"secretUrl": "https://vault.invalid/secrets/s", "sourceVault": {"id": "/vaults/v"}}
    current = [arm("a", provisioningState="Succeeded", protectedSettingsFromKeyVault=vault)]
    result = ex.plan(current, [user("a", force_update_tag="x")])
    body = ex.arm_profile_for_write(result)
    assert body == [{"name": "a", "properties": {
        "publisher": "Pub.a", "type": "Ta", "typeHandlerVersion": "1.0", "settings": {}, "forceUpdateTag": "x",
        "protectedSettingsFromKeyVault": vault}}]


# ------------------------------------------------------------ automatic upgrade table

@pytest.mark.parametrize("publisher,handler,expected", [
    ("Microsoft.ManagedServices", "ApplicationHealthLinux", True),
    ("microsoft.managedservices", "applicationhealthwindows", True),
    ("Microsoft.Azure.KeyVault", "KeyVaultForLinux", True),
    ("Microsoft.Azure.Monitoring.DependencyAgent", "DependencyAgentWindows", True),
    ("Microsoft.GuestConfiguration", "ConfigurationForLinux", True),
    ("Microsoft.Azure.Extensions", "CustomScript", False),
    ("Microsoft.ManagedServices", "CustomScript", False),
    (None, None, False),
])
def test_supports_automatic_upgrade(publisher, handler, expected):
    assert ex.supports_automatic_upgrade(publisher, handler) is expected


def test_supported_list_names_pairs():
    text = ex.supported_automatic_upgrade_list()
    assert "Microsoft.ManagedServices/ApplicationHealthLinux" in text


# ------------------------------------------------------------ plan_automatic_upgrade

def _health():
    return arm("health", publisher="Microsoft.ManagedServices", type="ApplicationHealthLinux")


def _script():
    return arm("app", after=["health"], publisher="Microsoft.Azure.Extensions", type="CustomScript",
               protectedSettings={"commandToExecute": SECRET})


def test_auto_upgrade_enables_only_named_and_keeps_others():
    current = [_health(), _script()]
    result = ex.plan_automatic_upgrade(current, ["health"], True, auto_upgrade_minor_version=True)
    assert result["changes"] == [{"name": "health", "action": "update",
                                  "fields": ["auto_upgrade_minor_version", "enable_automatic_upgrade"]}]
    assert result["states"] == [{"name": "health", "enable_automatic_upgrade": True,
                                 "auto_upgrade_minor_version": True}]
    assert result["extensions"][1]["properties"]["provisionAfterExtensions"] == ["health"]
    assert SECRET not in json.dumps(result)


def test_auto_upgrade_is_idempotent():
    current = [arm("health", publisher="Microsoft.ManagedServices", type="ApplicationHealthLinux",
                   enableAutomaticUpgrade=True)]
    assert ex.plan_automatic_upgrade(current, ["health"], True)["changed"] is False


def test_auto_upgrade_refuses_unsupported_with_the_list():
    with pytest.raises(ex.ExtensionGraphError) as err:
        ex.plan_automatic_upgrade([_health(), _script()], ["app"], True)
    msg = str(err.value)
    assert "'app' (Microsoft.Azure.Extensions/CustomScript) is not upgraded automatically" in msg
    assert "Microsoft.ManagedServices/ApplicationHealthLinux" in msg


def test_auto_upgrade_disable_allowed_for_any_and_unknown_name_refused():
    current = [_health(), _script()]
    current[1]["properties"]["enableAutomaticUpgrade"] = True
    assert ex.plan_automatic_upgrade(current, ["app"], False)["changed"] is True
    with pytest.raises(ex.ExtensionGraphError, match="'nope' is not an extension of the scale set model"):
        ex.plan_automatic_upgrade(current, ["nope"], False)


def test_auto_upgrade_disable_when_the_flag_was_never_set_is_no_change():
    # Azure reads an absent enableAutomaticUpgrade as false: asking for false must not PATCH.
    result = ex.plan_automatic_upgrade([_health(), _script()], ["health", "app"], False)
    assert result["changed"] is False and result["changes"] == []
    assert [s["enable_automatic_upgrade"] for s in result["states"]] == [False, False]
    assert ex.plan([_health()], [user("health", enable_automatic_upgrade=False)])["changed"] is False
    # an explicit true is still turned off
    current = [arm("health", publisher="Microsoft.ManagedServices", type="ApplicationHealthLinux",
                   enableAutomaticUpgrade=True)]
    assert ex.plan_automatic_upgrade(current, ["health"], False)["changes"] == [
        {"name": "health", "action": "update", "fields": ["enable_automatic_upgrade"]}]


def test_auto_upgrade_names_match_case_insensitively_like_extension_sequence():
    current = [arm("Health", publisher="Microsoft.ManagedServices", type="ApplicationHealthLinux"), _script()]
    result = ex.plan_automatic_upgrade(current, ["HEALTH"], True)
    assert result["changes"] == [{"name": "Health", "action": "update", "fields": ["enable_automatic_upgrade"]}]
    assert result["extensions"][0]["properties"]["enableAutomaticUpgrade"] is True
    assert result["states"] == [{"name": "Health", "enable_automatic_upgrade": True,
                                 "auto_upgrade_minor_version": None}]
    with pytest.raises(ex.ExtensionGraphError, match="listed twice"):
        ex.plan_automatic_upgrade(current, ["health", "Health"], True)


def test_names_match_case_insensitively_like_azure():
    current = [arm("Health"), arm("app", after=["health"])]
    assert ex.provisioning_order(current) == ["Health", "app"]
    ex.validate_graph(current)
    assert ex.plan(current, [user("HEALTH", settings={})])["changed"] is False
    with pytest.raises(ex.ExtensionGraphError, match="cannot remove extension 'Health'"):
        ex.plan(current, [user("health")], state="absent")
    with pytest.raises(ex.ExtensionGraphError, match="listed twice"):
        ex.plan(current, [user("a"), user("A")])


def test_exclusive_with_absent_is_refused():
    with pytest.raises(ex.ExtensionGraphError, match="^exclusive: only meaningful with state=present"):
        ex.plan([arm("a")], [user("a")], state="absent", exclusive=True)
