# -*- coding: utf-8 -*-
# Copyright: (c) vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scale-set extensions as a graph: conversion, validation, provisioning order and diff.

Pure functions over plain dicts; no SDK and no Ansible imports, so they are unit-tested directly.
Two shapes meet here:

* the user's shape (module options, snake_case): ``{"name", "publisher", "type", "type_handler_version",
  "settings", "protected_settings", "provision_after", ...}``;
* ARM's wire shape (what ``model.as_dict()`` gives): ``{"name", "type", "properties": {"publisher", "type",
  "typeHandlerVersion", ...}}``. The top-level ``type`` there is the *resource* type
  (``Microsoft.Compute/virtualMachineScaleSets/extensions``); the handler type is ``properties.type``.
  azure.azcollection mixed the two up; this module only ever reads and writes ``properties.type``.

Protected settings are write-only in Azure: they are never read back, never compared and never put in a
diff or a return value. When they are sent is the caller's decision (``protected_settings_update``).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

# user option -> ARM property (inside "properties")
FIELD_MAP = (
    ("publisher", "publisher"),
    ("type", "type"),
    ("type_handler_version", "typeHandlerVersion"),
    ("settings", "settings"),
    ("protected_settings", "protectedSettings"),
    ("provision_after", "provisionAfterExtensions"),
    ("auto_upgrade_minor_version", "autoUpgradeMinorVersion"),
    ("enable_automatic_upgrade", "enableAutomaticUpgrade"),
    ("suppress_failures", "suppressFailures"),
    ("force_update_tag", "forceUpdateTag"),
)
ARM_KEY = dict(FIELD_MAP)
USER_KEY = dict((arm, user) for user, arm in FIELD_MAP)

# Options compared with the scale set's current model; protected_settings is write-only and never compared.
COMPARED_FIELDS = tuple(user for user, _arm in FIELD_MAP if user != "protected_settings")
# ARM's value when a property is absent, so "absent" and the user's explicit default compare equal.
ARM_DEFAULTS = {"provision_after": [], "suppress_failures": False}
# Flags Azure reads as false when absent; compared as such so that asking for false on an extension that
# never had the flag is no change (ARM_DEFAULTS would also put them in every returned view).
ABSENT_IS_FALSE = ("enable_automatic_upgrade",)
# Needed to create an extension; an existing one keeps its current values for options the user leaves out.
REQUIRED_FOR_CREATE = ("publisher", "type", "type_handler_version")

PROTECTED_NOTE_CHANGED = "(changed, value hidden)"
PROTECTED_NOTE_SET = "(set, value hidden)"

# Extensions Azure upgrades automatically (enableAutomaticUpgrade), as (publisher, handler type).
# Sources: the seed doc "automatic extension upgrade" (Dependency Agent, Application Health, Guest
# Configuration, Key Vault) and Microsoft's current table in azure-compute-docs
# articles/virtual-machines/automatic-extension-upgrade.md. Add a pair here to support a new extension.
AUTO_UPGRADE_SUPPORTED = (
    ("Microsoft.Azure.Automation.HybridWorker", "HybridWorkerForLinux"),
    ("Microsoft.Azure.Automation.HybridWorker", "HybridWorkerForWindows"),
    ("Microsoft.Azure.AzureDefenderForSQL", "AdvancedThreatProtection.Windows"),
    ("Microsoft.Azure.AzureDefenderForSQL", "VulnerabilityAssessment.Windows"),
    ("Microsoft.Azure.AzureDefenderForServers", "MDE.Linux"),
    ("Microsoft.Azure.AzureDefenderForServers", "MDE.Windows"),
    ("Microsoft.Azure.ChangeTrackingAndInventory", "ChangeTracking-Linux"),
    ("Microsoft.Azure.ChangeTrackingAndInventory", "ChangeTracking-Windows"),
    ("Microsoft.Azure.Diagnostics", "LinuxDiagnostic"),
    ("Microsoft.Azure.Geneva", "GenevaMonitoring"),
    ("Microsoft.Azure.KeyVault", "KeyVaultForLinux"),
    ("Microsoft.Azure.KeyVault", "KeyVaultForWindows"),
    ("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent"),
    ("Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent"),
    ("Microsoft.Azure.Monitoring.DependencyAgent", "DependencyAgentLinux"),
    ("Microsoft.Azure.Monitoring.DependencyAgent", "DependencyAgentWindows"),
    ("Microsoft.Azure.NetworkWatcher", "NetworkWatcherAgentLinux"),
    ("Microsoft.Azure.NetworkWatcher", "NetworkWatcherAgentWindows"),
    ("Microsoft.Azure.Security.AntimalwareSignature", "AntimalwareConfiguration"),
    ("Microsoft.Azure.Security.LinuxAttestation", "GuestAttestation"),
    ("Microsoft.Azure.Security.Monitoring", "AzureSecurityLinuxAgent"),
    ("Microsoft.Azure.Security.Monitoring", "AzureSecurityWindowsAgent"),
    ("Microsoft.Azure.Security.WindowsAttestation", "GuestAttestation"),
    ("Microsoft.Azure.ServiceFabric", "ServiceFabricLinuxNode"),
    ("Microsoft.CPlat.ProxyAgent", "ProxyAgentLinux"),
    ("Microsoft.CPlat.ProxyAgent", "ProxyAgentWindows"),
    ("Microsoft.EnterpriseCloud.Monitoring", "MicrosoftMonitoringAgent"),
    ("Microsoft.EnterpriseCloud.Monitoring", "OmsAgentForLinux"),
    ("Microsoft.GuestConfiguration", "ConfigurationForLinux"),
    ("Microsoft.GuestConfiguration", "ConfigurationForWindows"),
    ("Microsoft.ManagedServices", "ApplicationHealthLinux"),
    ("Microsoft.ManagedServices", "ApplicationHealthWindows"),
    ("Microsoft.OSTCExtensions", "DSCForLinux"),
    ("Microsoft.SqlServer.Management", "SqlIaaSAgent"),
    ("Microsoft.SqlServer.Management", "SqlIaaSAgentLinux"),
)
_AUTO_UPGRADE_KEYS = frozenset((p.lower(), t.lower()) for p, t in AUTO_UPGRADE_SUPPORTED)


HEALTH_EXTENSION_TYPES = (("microsoft.managedservices", "applicationhealthlinux"),
                          ("microsoft.managedservices", "applicationhealthwindows"))


def is_health_extension(arm_ext):
    """True for an Application Health extension (the instances' health signal); compared ignoring case, like ARM."""
    props = _props(arm_ext)
    return ((props.get("publisher") or "").lower(), (props.get("type") or "").lower()) in HEALTH_EXTENSION_TYPES


def health_signal_removed(current_arm, final_arm):
    """Names of the Application Health extensions a change removes when none is left after it, else []."""
    if any(is_health_extension(e) for e in final_arm):
        return []
    return [e["name"] for e in current_arm if is_health_extension(e)]


class ExtensionGraphError(ValueError):
    """Invalid extension input, found before anything is written. The message names the option."""


# ---------------------------------------------------------------- shape conversion

def model_extensions(vmss):
    """The extension list of a scale set wire dict (empty when it has no extension profile)."""
    profile = ((vmss.get("properties") or {}).get("virtualMachineProfile") or {}).get("extensionProfile") or {}
    return list(profile.get("extensions") or [])


def _props(ext):
    """The properties dict of an ARM-shaped extension (empty when missing)."""
    return ext.get("properties") or {}


def from_arm(arm_ext):
    """ARM extension -> user-shaped dict with every known option (protected settings never included)."""
    props = _props(arm_ext)
    result = {"name": arm_ext.get("name")}
    for user, arm in FIELD_MAP:
        if user == "protected_settings":
            continue
        value = props.get(arm)
        if value is None and user in ARM_DEFAULTS:
            value = copy.deepcopy(ARM_DEFAULTS[user])
        result[user] = copy.deepcopy(value)
    return result


def to_arm(user_ext):
    """User-shaped extension -> ARM dict, carrying only the options that are set (not None)."""
    props = {}
    for user, arm in FIELD_MAP:
        value = user_ext.get(user)
        if value is not None:
            props[arm] = copy.deepcopy(value)
    return {"name": user_ext["name"], "properties": props}


def public_view(arm_ext):
    """ARM extension -> user-shaped dict for returns and diffs: only what is set, never protected settings."""
    return dict((k, v) for k, v in from_arm(arm_ext).items() if v is not None)


def _dependencies(ext, canonical=None):
    """provision_after names of an extension in either shape.

    Azure matches extension names case-insensitively; with ``canonical`` (lower-case name -> name as
    listed) each name is spelled as in the list.
    """
    if "properties" in ext:
        deps = _props(ext).get("provisionAfterExtensions")
    else:
        deps = ext.get("provision_after", ext.get("provisionAfterExtensions"))
    deps = list(deps or [])
    if canonical:
        deps = [canonical.get(d.lower(), d) for d in deps]
    return deps


def _canonical(extensions):
    return dict((e["name"].lower(), e["name"]) for e in extensions)


# ---------------------------------------------------------------- graph

def find_cycle(extensions):
    """The first cycle in provision_after, as a list of names [a, b, ..., a], or None.

    Read "a -> b" as "b is provisioned after a". Names that are not in the list are ignored here
    (they are reported as unknown by validate_graph). Deterministic: follows list order.
    """
    names = [e["name"] for e in extensions]
    canonical = _canonical(extensions)
    deps = dict((e["name"], [d for d in _dependencies(e, canonical) if d in names]) for e in extensions)
    # successors: a -> [b...] where b runs after a
    after = dict((n, []) for n in names)
    for name in names:
        for dep in deps[name]:
            after[dep].append(name)
    state = dict((n, 0) for n in names)  # 0 new, 1 on the stack, 2 done
    for start in names:
        if state[start]:
            continue
        stack = [(start, iter(after[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state[child] == 1:
                return path[path.index(child):] + [child]
            elif state[child] == 0:
                state[child] = 1
                stack.append((child, iter(after[child])))
                path.append(child)
    return None


def provisioning_order(extensions):
    """Names in an order Azure may provision them: every extension after those in its provision_after.

    Accepts extensions in ARM shape (``properties.provisionAfterExtensions``) or user shape
    (``provision_after``). Ties keep list order, so the result is deterministic. Names in provision_after
    that are not in the list are ignored. Raises ExtensionGraphError on a cycle.
    """
    cycle = find_cycle(extensions)
    if cycle:
        raise ExtensionGraphError("extensions: provision_after forms a cycle: %s" % " -> ".join(cycle))
    names = [e["name"] for e in extensions]
    canonical = _canonical(extensions)
    pending = dict((e["name"], set(d for d in _dependencies(e, canonical) if d in names and d != e["name"]))
                   for e in extensions)
    order = []
    while pending:
        ready = [n for n in names if n in pending and not pending[n]]
        name = ready[0]
        order.append(name)
        del pending[name]
        for deps in pending.values():
            deps.discard(name)
    return order


def validate_graph(final_arm, removed=()):
    """Check the extension set that would be written, as Azure would, before anything is written.

    final_arm: the whole extension profile after the change (ARM shape). removed: names that the change
    removes (so a dangling reference is reported as a removal, not as an unknown name).
    Raises ExtensionGraphError with one message naming the option and the fix.
    """
    names = [e["name"] for e in final_arm]
    by_name = dict((e["name"], e) for e in final_arm)
    canonical = _canonical(final_arm)
    removed = dict((n.lower(), n) for n in removed)
    for ext in final_arm:
        for dep in _dependencies(ext, canonical):
            if dep in names:
                continue
            if dep.lower() in removed:
                dep = removed[dep.lower()]
                raise ExtensionGraphError(
                    "extensions: cannot remove extension '%s': extension '%s' lists it in provision_after. "
                    "Remove '%s' too, or drop '%s' from its provision_after." % (dep, ext["name"], ext["name"], dep))
            raise ExtensionGraphError(
                "extensions: provision_after of extension '%s' names '%s', which is neither in extensions nor in "
                "the scale set model (known extensions: %s)."
                % (ext["name"], dep, ", ".join(sorted(names)) or "none"))
    cycle = find_cycle(final_arm)
    if cycle:
        raise ExtensionGraphError(
            "extensions: provision_after forms a cycle: %s (read 'a -> b' as 'b is provisioned after a'); "
            "Azure rejects circular provisioning orders." % " -> ".join(cycle))
    for ext in final_arm:
        for dep in _dependencies(ext, canonical):
            if _props(by_name[dep]).get("settings") is None:
                raise ExtensionGraphError(
                    "extensions: extension '%s' is named in provision_after of '%s' but has no settings; Azure "
                    "requires a settings property on every extension others depend on: give it 'settings: {}'."
                    % (dep, ext["name"]))


# ---------------------------------------------------------------- input checks

def check_user_extensions(extensions, state, exclusive=False):
    """Checks on the options that need no Azure state. Raises ExtensionGraphError."""
    if exclusive and state == "absent":
        raise ExtensionGraphError("exclusive: only meaningful with state=present (state=absent removes exactly the "
                                  "listed extensions).")
    seen = set()
    for index, ext in enumerate(extensions):
        name = ext.get("name")
        if not name:
            raise ExtensionGraphError("extensions[%d]: name is required." % index)
        if name.lower() in seen:
            raise ExtensionGraphError("extensions: extension '%s' is listed twice; names must be unique "
                                      "(Azure ignores case)." % name)
        seen.add(name.lower())
        if state == "present" and name.lower() in [d.lower() for d in _dependencies(ext)]:
            raise ExtensionGraphError(
                "extensions: provision_after forms a cycle: %s -> %s (extension '%s' names itself)."
                % (name, name, name))


def _same(user, current, desired):
    if user == "provision_after":
        return sorted(current or []) == sorted(desired or [])
    if user == "type_handler_version" and current is not None:
        return str(current) == str(desired)
    if user in ABSENT_IS_FALSE and current is None:
        return desired is False
    return current == desired


# ---------------------------------------------------------------- plan

def plan(current_arm, desired, state="present", exclusive=False, protected_settings_update="on_create"):
    """Work out the new extension profile and what changes.

    current_arm: the scale set's extensions (ARM shape, as read). desired: the user's extension dicts
    (user shape, None for unset options). Returns a dict:

    * ``extensions``: the whole new extension list (ARM shape, current order, new ones appended), with
      protectedSettings only where they are to be sent;
    * ``changes``: list of ``{"name", "action": create|update|remove, "fields": [...]}`` (fields that differ,
      ``protected_settings`` included when they are sent);
    * ``changed``: bool.

    Validation runs on the final set (validate_graph). Raises ExtensionGraphError.
    """
    check_user_extensions(desired, state, exclusive)
    current_by_name = dict((e["name"].lower(), e) for e in current_arm)
    desired_by_name = dict((e["name"].lower(), e) for e in desired)
    changes = []
    final = []
    removed = []

    if state == "absent":
        for ext in current_arm:
            if ext["name"].lower() in desired_by_name:
                removed.append(ext["name"])
                changes.append({"name": ext["name"], "action": "remove", "fields": []})
            else:
                final.append(_strip_protected(ext))
        validate_graph(final, removed)
        return {"extensions": final, "changes": changes, "changed": bool(changes)}

    for ext in current_arm:
        name = ext["name"]
        if name.lower() not in desired_by_name:
            if exclusive:
                removed.append(name)
                changes.append({"name": name, "action": "remove", "fields": []})
            else:
                final.append(_strip_protected(ext))
            continue
        wanted = desired_by_name[name.lower()]
        merged, fields = _merge(ext, wanted, protected_settings_update)
        final.append(merged)
        if fields:
            changes.append({"name": name, "action": "update", "fields": fields})

    for index, wanted in enumerate(desired):
        if wanted["name"].lower() in current_by_name:
            continue
        missing = [k for k in REQUIRED_FOR_CREATE if wanted.get(k) in (None, "")]
        if missing:
            raise ExtensionGraphError(
                "extensions[%d]: extension '%s' is not in the scale set model yet, so %s %s required to create it."
                % (index, wanted["name"], " and ".join(missing), "is" if len(missing) == 1 else "are"))
        created = to_arm(wanted)
        final.append(created)
        changes.append({"name": wanted["name"], "action": "create",
                        "fields": sorted(USER_KEY[k] for k in created["properties"])})

    validate_graph(final, removed)
    return {"extensions": final, "changes": changes, "changed": bool(changes)}


def unsent_protected_settings(current_arm, desired, state="present", protected_settings_update="on_create"):
    """Names of the wanted extensions whose protected_settings will be neither compared nor sent (pure).

    Azure never returns protected settings, so they cannot be compared; under ``on_create`` they are sent only
    when the extension is created. A user who changed only them would otherwise see ``ok`` and nothing happen.
    """
    if state != "present" or protected_settings_update != "on_create":
        return []
    existing = set(e["name"].lower() for e in current_arm)
    return [e["name"] for e in desired if e.get("protected_settings") is not None and e["name"].lower() in existing]


def _strip_protected(arm_ext):
    ext = copy.deepcopy(arm_ext)
    ext.get("properties", {}).pop("protectedSettings", None)
    return ext


def _merge(current, wanted, protected_settings_update):
    """Current ARM extension + the options the user set -> (new ARM extension, changed field names)."""
    merged = _strip_protected(current)
    props = merged.setdefault("properties", {})
    current_view = from_arm(current)
    fields = []
    for user in COMPARED_FIELDS:
        value = wanted.get(user)
        if value is None:
            continue
        if not _same(user, current_view.get(user), value):
            fields.append(user)
            props[ARM_KEY[user]] = copy.deepcopy(value)
    if wanted.get("protected_settings") is not None and protected_settings_update == "always":
        props["protectedSettings"] = copy.deepcopy(wanted["protected_settings"])
        fields.append("protected_settings")
    return merged, fields


# ---------------------------------------------------------------- diff and returns

def diff(current_arm, plan_result):
    """before/after for diff mode: user-shaped, protected settings replaced by a note when they are sent."""
    before = dict((e["name"], public_view(e)) for e in current_arm)
    after = {}
    changes = dict((c["name"], c) for c in plan_result["changes"])
    for ext in plan_result["extensions"]:
        view = public_view(ext)
        change = changes.get(ext["name"])
        if change and "protected_settings" in change["fields"]:
            view["protected_settings"] = (PROTECTED_NOTE_SET if change["action"] == "create"
                                          else PROTECTED_NOTE_CHANGED)
        after[ext["name"]] = view
    return {"before": {"extensions": before}, "after": {"extensions": after}}


# Output-only extension properties; everything else read from the model is written back unchanged, so
# properties this collection does not manage (protectedSettingsFromKeyVault, newer API fields) survive.
READ_ONLY_PROPERTIES = ("provisioningState", "instanceView")


def arm_profile_for_write(plan_result):
    """The extension list to PATCH (ARM shape): the plan's list without read-only properties."""
    out = []
    for ext in plan_result["extensions"]:
        props = dict((k, v) for k, v in _props(ext).items() if k not in READ_ONLY_PROPERTIES)
        out.append({"name": ext["name"], "properties": copy.deepcopy(props)})
    return out


# ---------------------------------------------------------------- automatic upgrade

def supports_automatic_upgrade(publisher, handler_type):
    """True when Azure upgrades this publisher/handler type automatically (case-insensitive, like ARM)."""
    return ((publisher or "").lower(), (handler_type or "").lower()) in _AUTO_UPGRADE_KEYS


def supported_automatic_upgrade_list():
    """Human-readable list of the supported publisher/type pairs, for error messages."""
    return ", ".join("%s/%s" % pair for pair in AUTO_UPGRADE_SUPPORTED)


def plan_automatic_upgrade(current_arm, names, enabled, auto_upgrade_minor_version=None):
    """Set enableAutomaticUpgrade (and optionally autoUpgradeMinorVersion) on the named extensions.

    Refuses, before anything is written, a name that is not in the model and enabling an extension Azure
    does not upgrade automatically (disabling is always allowed). Returns a dict like plan():
    ``extensions`` (whole new list, ARM shape, no protected settings), ``changes``, ``changed``, and
    ``states`` ([{name, enable_automatic_upgrade, auto_upgrade_minor_version}] for the named extensions).
    """
    if not names:
        raise ExtensionGraphError("extensions: give at least one extension name.")
    # Azure (and vmss_extension_sequence) match extension names ignoring case.
    by_name = dict((e["name"].lower(), e) for e in current_arm)
    seen = set()
    for name in names:
        if name.lower() in seen:
            raise ExtensionGraphError("extensions: '%s' is listed twice; names must be unique (Azure ignores case)."
                                      % name)
        seen.add(name.lower())
        if name.lower() not in by_name:
            raise ExtensionGraphError(
                "extensions: '%s' is not an extension of the scale set model (its extensions: %s)."
                % (name, ", ".join(sorted(e["name"] for e in current_arm)) or "none"))
        props = _props(by_name[name.lower()])
        if enabled and not supports_automatic_upgrade(props.get("publisher"), props.get("type")):
            raise ExtensionGraphError(
                "extensions: '%s' (%s/%s) is not upgraded automatically by Azure, so enabled=true is not allowed "
                "for it. Supported extensions: %s." % (name, props.get("publisher"), props.get("type"),
                                                       supported_automatic_upgrade_list()))
    wanted = {"enable_automatic_upgrade": bool(enabled)}
    if auto_upgrade_minor_version is not None:
        wanted["auto_upgrade_minor_version"] = bool(auto_upgrade_minor_version)
    final, changes = [], []
    for ext in current_arm:
        if ext["name"].lower() not in seen:
            final.append(_strip_protected(ext))
            continue
        request = dict(wanted, name=ext["name"])
        merged, fields = _merge(ext, request, "on_create")
        final.append(merged)
        if fields:
            changes.append({"name": ext["name"], "action": "update", "fields": fields})
    return {"extensions": final, "changes": changes, "changed": bool(changes),
            "states": automatic_upgrade_states(final, names)}


def automatic_upgrade_states(arm_extensions, names):
    """[{name, enable_automatic_upgrade, auto_upgrade_minor_version}] for the named extensions present.

    Names match ignoring case and are reported as the model spells them; an absent enableAutomaticUpgrade is false.
    """
    by_name = dict((e["name"].lower(), from_arm(e)) for e in arm_extensions)
    views = [by_name[n.lower()] for n in names if n.lower() in by_name]
    return [{"name": v["name"], "enable_automatic_upgrade": bool(v["enable_automatic_upgrade"]),
             "auto_upgrade_minor_version": v["auto_upgrade_minor_version"]} for v in views]


# ---------------------------------------------------------------- plain VMs

def vm_extension_writes(plan_result):
    """The per-extension writes of a plan for a plain VM (pure), in plan order.

    A VM's extensions are separate resources: ``("create", name, arm_extension)`` is a PUT of the whole extension,
    ``("update", name, properties)`` a PATCH of only the properties that differ (protectedSettings when they are
    sent), ``("remove", name, None)`` a DELETE.
    """
    by_name = dict((e["name"].lower(), e) for e in plan_result["extensions"])
    writes = []
    for change in plan_result["changes"]:
        name = change["name"]
        if change["action"] == "remove":
            writes.append(("remove", name, None))
            continue
        ext = by_name[name.lower()]
        props = dict((k, v) for k, v in _props(ext).items() if k not in READ_ONLY_PROPERTIES)
        if change["action"] == "create":
            writes.append(("create", name, {"name": ext["name"], "properties": copy.deepcopy(props)}))
        else:
            writes.append(("update", name, dict((ARM_KEY[f], copy.deepcopy(props.get(ARM_KEY[f])))
                                                for f in change["fields"])))
    return writes
