"""The scale-set model: input checks, service defaults, secrets kept out, and extension ordering rules."""
from __future__ import annotations

import copy
import re
from typing import Any

from .arm import bad_request, expect_type, invalid
from .exceptions import ArmError
from .state import is_health_extension

UPGRADE_MODES = ("Automatic", "Manual", "Rolling")
ROLLING_DEFAULTS = {
    "maxBatchInstancePercent": 20, "maxUnhealthyInstancePercent": 20, "maxUnhealthyUpgradedInstancePercent": 20,
    "pauseTimeBetweenBatches": "PT0S", "enableCrossZoneUpgrade": False, "prioritizeUnhealthyInstances": False,
    "rollbackFailedInstancesOnPolicyBreach": False, "maxSurge": False,
}
PERCENT_RANGES = {"maxBatchInstancePercent": (5, 100), "maxUnhealthyInstancePercent": (5, 100),
                  "maxUnhealthyUpgradedInstancePercent": (0, 100)}
AUTO_OS_DEFAULTS = {"enableAutomaticOSUpgrade": False, "disableAutomaticRollback": False,
                    "useRollingUpgradePolicy": False, "osRollingUpgradeDeferral": False}
SECRET_OS_KEYS = ("adminPassword", "customData")
MAX_CAPACITY = 1000
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: str, target: str) -> float:
    """ISO 8601 duration (PnDTnHnMnS) in seconds."""
    match = _DURATION.match(text or "") if isinstance(text, str) else None
    if not match or text in ("P", "PT"):
        raise invalid(f"The value '{text}' of parameter '{target}' is not a valid ISO 8601 duration "
                      "(for example PT0S, PT30S, PT5M).", target=target)
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def deep_merge(base: Any, patch: Any) -> Any:
    """PATCH semantics of ARM resources: objects merge recursively, lists and scalars replace.

    A null clears a plain value (the way a client drops a platform image's publisher/offer/sku/version when it
    switches the model to an image id), but cannot remove an object or a list: there it means "not specified"
    and the stored value stays (removing, say, the network profile would leave the set unusable).
    """
    if isinstance(patch, dict):
        merged = dict(base) if isinstance(base, dict) else {}
        for key, value in patch.items():
            if value is None:
                if not isinstance(merged.get(key), (dict, list)):
                    merged.pop(key, None)
                continue
            merged[key] = deep_merge(merged.get(key), value)
        return merged
    return copy.deepcopy(patch)


# ---------------------------------------------------------------- input checks


def _get(parent: dict[str, Any], key: str, kind: type | tuple[type, ...], target: str, what: str,
         patch: bool) -> Any:
    """parent[key] type-checked (None when absent). A JSON null is a 400, except in a PATCH (see deep_merge:
    it clears a plain value and leaves an object or list as it is)."""
    return expect_type(parent.get(key), kind, target, what, null_ok=patch or key not in parent)


def check_resource(body: Any, creating: bool, patch: bool = False) -> None:
    """Type checks of a VMSS PUT/PATCH body; 400 InvalidParameter naming the property.

    Objects must be objects and lists lists, so nothing downstream (defaults, rendering, the NIC view) meets a
    value of the wrong shape. List items are never null: a list replaces the stored one whole, even in a PATCH.
    """
    expect_type(body, dict, "parameters", "a JSON object", null_ok=False)
    if creating and not body.get("location"):
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    _get(body, "location", str, "location", "a string", patch)
    _get(body, "tags", dict, "tags", "an object", patch)
    for zone in _get(body, "zones", list, "zones", "a list of strings", patch) or []:
        expect_type(zone, str, "zones", "a list of strings", null_ok=False)
    sku = _get(body, "sku", dict, "sku", "an object", patch) or {}
    _get(sku, "name", str, "sku.name", "a string", patch)
    _get(sku, "tier", str, "sku.tier", "a string", patch)
    # a null capacity is never "keep": it used to scale the set to 0
    capacity = _get(sku, "capacity", int, "sku.capacity", "an integer", patch=False)
    if capacity is not None and not 0 <= capacity <= MAX_CAPACITY:
        raise invalid(f"The value {capacity} of parameter 'sku.capacity' is out of range. "
                      f"The value must be between 0 and {MAX_CAPACITY}, inclusive.", target="sku.capacity")
    props = _get(body, "properties", dict, "properties", "an object", patch) or {}
    policy = _get(props, "upgradePolicy", dict, "properties.upgradePolicy", "an object", patch) or {}
    mode = _get(policy, "mode", str, "upgradePolicy.mode", "a string", patch)
    if mode is not None and mode not in UPGRADE_MODES:
        raise invalid(f"The value '{mode}' of parameter 'upgradePolicy.mode' is not allowed. Allowed values are: "
                      f"{', '.join(UPGRADE_MODES)}.", target="upgradePolicy.mode")
    rolling = _get(policy, "rollingUpgradePolicy", dict, "upgradePolicy.rollingUpgradePolicy", "an object",
                   patch) or {}
    for key, (low, high) in PERCENT_RANGES.items():
        value = _get(rolling, key, int, f"rollingUpgradePolicy.{key}", "an integer", patch)
        if value is not None and not low <= value <= high:
            raise invalid(f"The value {value} of parameter 'rollingUpgradePolicy.{key}' is out of range. "
                          f"The value must be between {low} and {high}, inclusive.",
                          target=f"rollingUpgradePolicy.{key}")
    if _get(rolling, "pauseTimeBetweenBatches", str, "rollingUpgradePolicy.pauseTimeBetweenBatches", "a string",
            patch) is not None:
        parse_duration(rolling["pauseTimeBetweenBatches"], "rollingUpgradePolicy.pauseTimeBetweenBatches")
    _get(policy, "automaticOSUpgradePolicy", dict, "upgradePolicy.automaticOSUpgradePolicy", "an object", patch)
    profile = _get(props, "virtualMachineProfile", dict, "properties.virtualMachineProfile", "an object",
                   patch) or {}
    storage = _get(profile, "storageProfile", dict, "virtualMachineProfile.storageProfile", "an object",
                   patch) or {}
    image = _get(storage, "imageReference", dict, "storageProfile.imageReference", "an object", patch) or {}
    for key in ("publisher", "offer", "sku", "version", "id"):
        _get(image, key, str, f"imageReference.{key}", "a string", patch)
    _get(storage, "osDisk", dict, "storageProfile.osDisk", "an object", patch)
    _get(storage, "dataDisks", list, "storageProfile.dataDisks", "a list", patch)
    os_profile = _get(profile, "osProfile", dict, "virtualMachineProfile.osProfile", "an object", patch) or {}
    for key in ("computerNamePrefix", "adminUsername"):
        _get(os_profile, key, str, f"osProfile.{key}", "a string", patch)
    network = _get(profile, "networkProfile", dict, "virtualMachineProfile.networkProfile", "an object", patch) or {}
    nics = _get(network, "networkInterfaceConfigurations", list, "networkProfile.networkInterfaceConfigurations",
                "a list", patch) or []
    for index, nic in enumerate(nics):
        _check_named(nic, f"networkProfile.networkInterfaceConfigurations[{index}]", "ipConfigurations")
    ext_profile = _get(profile, "extensionProfile", dict, "virtualMachineProfile.extensionProfile", "an object",
                       patch) or {}
    extensions = _get(ext_profile, "extensions", list, "extensionProfile.extensions", "a list", patch) or []
    for index, ext in enumerate(extensions):
        check_extension(ext, f"extensionProfile.extensions[{index}]", name_required=True)


def _check_named(item: Any, target: str, children: str | None = None) -> None:
    """A NIC or IP configuration: {name, properties: {..., children: [same shape]}} (never null: in a list)."""
    expect_type(item, dict, target, "an object", null_ok=False)
    _get(item, "name", str, f"{target}.name", "a string", patch=False)
    props = _get(item, "properties", dict, f"{target}.properties", "an object", patch=False) or {}
    if children:
        for index, child in enumerate(_get(props, children, list, f"{target}.properties.{children}", "a list",
                                           patch=False) or []):
            _check_named(child, f"{target}.properties.{children}[{index}]")
    else:
        subnet = _get(props, "subnet", dict, f"{target}.properties.subnet", "an object", patch=False) or {}
        _get(subnet, "id", str, f"{target}.properties.subnet.id", "a string", patch=False)


def check_extension(ext: Any, target: str, name_required: bool, patch: bool = False) -> None:
    """An extension, in the scale set's list (never null there) or as the body of the extension resource."""
    expect_type(ext, dict, target, "an object", null_ok=False)
    name = ext.get("name")
    if (name_required and name is None) or (name is not None and (not isinstance(name, str) or not name)):
        raise invalid(f"The value of parameter '{target}.name' is invalid: expected a non-empty string.",
                      target=f"{target}.name")
    props = _get(ext, "properties", dict, f"{target}.properties", "an object", patch) or {}
    for key in ("publisher", "type", "typeHandlerVersion", "forceUpdateTag"):
        _get(props, key, str, f"{target}.properties.{key}", "a string", patch)
    for key in ("autoUpgradeMinorVersion", "enableAutomaticUpgrade", "suppressFailures"):
        _get(props, key, bool, f"{target}.properties.{key}", "true or false", patch)
    for key in ("settings", "protectedSettings", "protectedSettingsFromKeyVault"):
        _get(props, key, dict, f"{target}.properties.{key}", "an object", patch)
    after = _get(props, "provisionAfterExtensions", list, f"{target}.properties.provisionAfterExtensions",
                 "a list of extension names", patch) or []
    for name in after:
        expect_type(name, str, f"{target}.properties.provisionAfterExtensions", "a list of extension names",
                    null_ok=False)


# ---------------------------------------------------------------- create-time properties

CREATE_TIME_PROPERTIES = ("platformFaultDomainCount", "orchestrationMode")


def property_change_not_allowed(name: str) -> ArmError:
    return ArmError(409, "PropertyChangeNotAllowed", f"Changing property '{name}' is not allowed.", target=name)


def check_create_time(old: dict[str, Any], new: dict[str, Any]) -> None:
    """409 PropertyChangeNotAllowed when a write changes what Azure fixes at creation: the fault domain count, the
    orchestration mode, singlePlacementGroup from false to true, and an existing extension's publisher or type
    (values compared ignoring case, as ARM compares names)."""
    for key in CREATE_TIME_PROPERTIES:
        if str(old.get(key)).lower() != str(new.get(key)).lower():
            raise property_change_not_allowed(key)
    if old.get("singlePlacementGroup") is False and new.get("singlePlacementGroup") is True:
        raise property_change_not_allowed("singlePlacementGroup")
    before = {e["name"].lower(): e.get("properties") or {} for e in _profile_extensions(old)}
    for ext in _profile_extensions(new):
        previous = before.get(ext["name"].lower())
        if previous is None:
            continue
        for key in ("publisher", "type"):
            if str(previous.get(key) or "").lower() != str((ext.get("properties") or {}).get(key) or "").lower():
                raise property_change_not_allowed(key)


def _profile_extensions(props: dict[str, Any]) -> list[dict[str, Any]]:
    return ((props.get("virtualMachineProfile") or {}).get("extensionProfile") or {}).get("extensions") or []


def put_over(stored: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The properties a PUT of an existing scale set results in: as Azure does, what the body leaves out keeps its
    stored value, object by object (a PUT of only location and sku, as `az vmss scale` sends, keeps the model; the
    PUT of `az vmss update --set ...imageReference.version=2.0.0` carries only `{"version": "2.0.0"}` there and the
    image keeps its publisher, offer and sku); a list given replaces the stored one whole (that is how a GET-change-PUT
    client removes an extension)."""
    return deep_merge(copy.deepcopy(stored), given)


# ---------------------------------------------------------------- health signal

def validate_health_signal(props: dict[str, Any]) -> None:
    """Rolling mode and automatic OS upgrades need a health signal (the Application Health extension or a load
    balancer health probe); Azure refuses the model with 400 BadRequest otherwise (messages as Azure words them)."""
    profile = props.get("virtualMachineProfile") or {}
    extensions = (profile.get("extensionProfile") or {}).get("extensions") or []
    has_extension = any(is_health_extension(e) for e in extensions)
    has_probe = bool(((profile.get("networkProfile") or {}).get("healthProbe") or {}).get("id"))
    if has_extension or has_probe:
        return
    policy = props.get("upgradePolicy") or {}
    if str(policy.get("mode") or "").lower() == "rolling":
        raise bad_request("Rolling Upgrade mode is not supported for this Virtual Machine Scale Set because a health "
                          "probe or health extension was not provided.")
    if (policy.get("automaticOSUpgradePolicy") or {}).get("enableAutomaticOSUpgrade") is True:
        raise bad_request("Automatic OS Upgrade is not supported for this Virtual Machine Scale Set because a health "
                          "probe or health extension was not specified.")


# ---------------------------------------------------------------- extension ordering


def validate_extension_order(vmss_name: str, extensions: list[dict[str, Any]],
                             previous: list[dict[str, Any]] | None = None) -> None:
    """Azure's provisionAfterExtensions rules; 400 BadRequest on the first breach (nothing is written)."""
    by_name = {e["name"].lower(): e for e in extensions}
    if len(by_name) != len(extensions):
        raise bad_request(f"On resource '{vmss_name}', the extension profile names the same extension more than once.")
    old_names = {e["name"].lower() for e in previous or []}
    for ext in extensions:
        for dep in (ext.get("properties") or {}).get("provisionAfterExtensions") or []:
            target = by_name.get(dep.lower())
            if target is None and dep.lower() in old_names:
                raise bad_request(
                    f"On resource '{vmss_name}', extension '{ext['name']}' specifies '{dep}' in its "
                    f"provisionAfterExtensions property, but the extension '{dep}' will no longer exist. First, "
                    f"remove the extension '{ext['name']}' or remove '{dep}' from the provisionAfterExtensions "
                    f"property of '{ext['name']}'.",
                    innererror={"internalErrorCode":
                                "MissingDependentExtensionInArgumentDependentExtensionExistsInVMSSInstance"})
            if target is None:
                raise bad_request(
                    f"On resource '{vmss_name}', extension '{ext['name']}' specifies '{dep}' in its "
                    f"provisionAfterExtensions property, but the extension '{dep}' is not configured in the "
                    "virtual machine scale set model.")
            if "settings" not in (target.get("properties") or {}):
                raise bad_request(
                    f"On resource '{vmss_name}', extension '{ext['name']}' specifies '{dep}' in its "
                    f"provisionAfterExtensions property, but the extension '{dep}' does not have a 'settings' "
                    "property. An extension that others are provisioned after must define 'settings' (it may be "
                    "empty).")
    cycle = find_cycle(extensions)
    if cycle:
        raise bad_request(
            f"On resource '{vmss_name}', the provisionAfterExtensions properties of the extensions form a circular "
            f"dependency: {' -> '.join(cycle)}. Extension sequencing must not contain cycles.")


def _edges(extensions: list[dict[str, Any]]) -> dict[str, list[str]]:
    names = {e["name"].lower(): e["name"] for e in extensions}
    return {e["name"]: [names[d.lower()] for d in (e.get("properties") or {}).get("provisionAfterExtensions") or []
                        if d.lower() in names] for e in extensions}


def find_cycle(extensions: list[dict[str, Any]]) -> list[str] | None:
    edges = _edges(extensions)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in edges.get(node, []):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for name in edges:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def provisioning_order(extensions: list[dict[str, Any]]) -> list[str]:
    """Extension names in an order honouring provisionAfterExtensions (stable: model order among equals)."""
    edges = _edges(extensions)
    done: list[str] = []
    placed: set[str] = set()
    pending = list(edges)
    while pending:
        ready = [n for n in pending if all(d in placed for d in edges[n])]
        if not ready:  # a cycle cannot be stored, but never loop forever
            ready = pending[:1]
        for name in ready:
            done.append(name)
            placed.add(name)
        pending = [n for n in pending if n not in placed]
    return done


# ---------------------------------------------------------------- defaults and secrets


def split_secrets(profile: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(profile without secrets, {extension name: protectedSettings}); adminPassword/customData are dropped."""
    profile = copy.deepcopy(profile)
    secrets: dict[str, Any] = {}
    os_profile = profile.get("osProfile")
    if isinstance(os_profile, dict):
        for key in SECRET_OS_KEYS:
            os_profile.pop(key, None)
    for ext in ((profile.get("extensionProfile") or {}).get("extensions") or []):
        props = ext.get("properties") or {}
        for key in ("protectedSettings", "protectedSettingsFromKeyVault"):
            if key in props:
                secrets.setdefault(ext["name"], {})[key] = props.pop(key)
    return profile, secrets


def fill_extension_defaults(props: dict[str, Any]) -> dict[str, Any]:
    props.setdefault("autoUpgradeMinorVersion", True)
    props.setdefault("enableAutomaticUpgrade", False)
    props.setdefault("suppressFailures", False)
    props.pop("provisioningState", None)  # read-only, rendered on output
    return props


def network_ids(subscription: str, resource_group: str, vmss_name: str) -> dict[str, str]:
    """The subnet and load balancer backend pool a scale set's default NIC joins (what `az vmss create` makes)."""
    net = f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Network"
    return {"subnet": f"{net}/virtualNetworks/{vmss_name}VNET/subnets/{vmss_name}Subnet",
            "pool": f"{net}/loadBalancers/{vmss_name}LB/backendAddressPools/{vmss_name}LBBEPool"}


def default_network_profile(ids: dict[str, str] | None) -> dict[str, Any]:
    ip_props: dict[str, Any] = {"primary": True, "privateIPAddressVersion": "IPv4"}
    if ids:
        ip_props["subnet"] = {"id": ids["subnet"]}
        ip_props["loadBalancerBackendAddressPools"] = [{"id": ids["pool"]}]
    return {"networkInterfaceConfigurations": [
        {"name": "nic", "properties": {"primary": True, "ipConfigurations": [
            {"name": "ipconfig", "properties": ip_props}]}}]}


def fill_defaults(props: dict[str, Any], ids: dict[str, str] | None = None) -> dict[str, Any]:
    """The service-side defaults of a VMSS "properties" dict (in place; returns it).

    ids (see network_ids) names the subnet and backend pool of the default network profile.
    """
    props.pop("provisioningState", None)
    props.pop("uniqueId", None)
    props.pop("timeCreated", None)
    props.setdefault("singlePlacementGroup", True)
    props.setdefault("orchestrationMode", "Uniform")
    # Flexible sets spread as widely as they can unless told (Azure's `az vmss create` default for them is 1)
    props.setdefault("platformFaultDomainCount", 1 if props["orchestrationMode"] == "Flexible" else 5)
    props.setdefault("overprovision", False)
    props.setdefault("doNotRunExtensionsOnOverprovisionedVMs", False)
    policy = props.setdefault("upgradePolicy", {})
    policy.setdefault("mode", "Manual")
    if policy["mode"] == "Rolling" or "rollingUpgradePolicy" in policy:
        policy["rollingUpgradePolicy"] = {**ROLLING_DEFAULTS, **(policy.get("rollingUpgradePolicy") or {})}
    policy["automaticOSUpgradePolicy"] = {**AUTO_OS_DEFAULTS, **(policy.get("automaticOSUpgradePolicy") or {})}
    profile = props.setdefault("virtualMachineProfile", {})
    os_profile = profile.setdefault("osProfile", {})
    os_profile.setdefault("computerNamePrefix", "vmss")
    os_profile.setdefault("adminUsername", "azureuser")
    os_profile.setdefault("secrets", [])
    os_profile.setdefault("allowExtensionOperations", True)
    os_profile.setdefault("requireGuestProvisionSignal", True)
    storage = profile.setdefault("storageProfile", {})
    storage.setdefault("imageReference", {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server",
                                          "version": "latest"})
    storage["imageReference"].pop("exactVersion", None)
    os_disk = storage.setdefault("osDisk", {})
    os_disk.setdefault("createOption", "FromImage")
    os_disk.setdefault("caching", "ReadWrite")
    os_disk.setdefault("osType", "Windows" if "windows" in str(storage["imageReference"]).lower() else "Linux")
    os_disk.setdefault("diskSizeGB", 30)
    os_disk.setdefault("managedDisk", {"storageAccountType": "Premium_LRS"})
    storage.setdefault("dataDisks", [])
    profile.setdefault("networkProfile", default_network_profile(ids))
    # Azure fills the OS's configuration block; clients read the OS type from it (azcollection: os_type)
    if os_disk["osType"] == "Linux" and "windowsConfiguration" not in os_profile:
        linux = os_profile.setdefault("linuxConfiguration", {})
        linux.setdefault("disablePasswordAuthentication", False)
        linux.setdefault("provisionVMAgent", True)
        linux.setdefault("enableVMAgentPlatformUpdates", False)
    elif os_disk["osType"] == "Windows" and "linuxConfiguration" not in os_profile:
        windows = os_profile.setdefault("windowsConfiguration", {})
        windows.setdefault("provisionVMAgent", True)
        windows.setdefault("enableAutomaticUpdates", True)
    ext_profile = profile.setdefault("extensionProfile", {})
    ext_profile.setdefault("extensions", [])
    ext_profile.setdefault("extensionsTimeBudget", "PT1H30M")
    for ext in ext_profile["extensions"]:
        ext.pop("id", None)
        ext.pop("type", None)
        fill_extension_defaults(ext.setdefault("properties", {}))
    return props


def render_extension(ext: dict[str, Any], vmss_id: str) -> dict[str, Any]:
    return {"id": f"{vmss_id}/extensions/{ext['name']}", "name": ext["name"],
            "type": "Microsoft.Compute/virtualMachineScaleSets/extensions",
            "properties": {**copy.deepcopy(ext.get("properties") or {}), "provisioningState": "Succeeded"}}


def render_profile(profile: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(profile)
    for ext in ((out.get("extensionProfile") or {}).get("extensions") or []):
        ext.setdefault("properties", {})["provisioningState"] = "Succeeded"
    return out
