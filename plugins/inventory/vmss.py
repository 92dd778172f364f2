# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: vmss
short_description: One host per instance of Azure Virtual Machine Scale Sets
version_added: 0.1.0
description:
  - Adds one host per instance of the selected Uniform scale sets, with the instance's update domain, fault
    domain, zone, latest-model and health state as host variables and its private IP address as C(ansible_host).
  - Adds each host to the groups C(vmss_<name>), C(vmss_<name>_ud_<n>) (its platform update domain) and, for a
    zonal scale set, C(zone_<z>). With O(hostnames=resource_group_instance_name) the scale set groups carry the
    resource group too (C(vmss_<resource_group>_<name>), C(vmss_<resource_group>_<name>_ud_<n>)), so two scale
    sets of the same name in two resource groups never share a group. Characters other than letters, digits and
    underscores become C(_) in group names.
  - Fails whole, so on any error (Azure, a host name collision) no host of this source is added.
  - With O(cache), the inventory is read from the cache until O(cache_timeout) seconds have passed, so a model
    change (for example C(latest_model_applied)) can be hidden for up to that long; use a short O(cache_timeout)
    or C(--flush-cache) before a rollout. The cache key includes the selection options (O(resource_groups),
    O(names), O(tags), O(exclude)) and the subscription and cloud, so changing them never serves another
    selection's hosts.
  - Reads one instance list (with instance views, all pages) and one network interface list per scale set, plus
    one scale set list per resource group (or one for the whole subscription); never one call per instance.
  - Works beside static hosts and other inventory sources in an inventory directory.
  - Scale sets in Flexible orchestration mode are included too. Each member VM is a host named by the VM's name, in
    the groups C(vmss_<name>), C(vmss_<name>_fd_<n>) (its platform fault domain; Flexible sets have no update
    domains) and C(zone_<z>). Members are read with the C(virtualMachineScaleSet/id) filter and each one's instance
    view.
  - When any of O(vm_resource_groups), O(vm_names) or O(vm_tags) is given, plain virtual machines (not members of a
    scale set) are added too, in the group C(virtual_machines), C(availability_set_<name>) and
    C(availability_set_<name>_ud_<n>) when in an availability set, and C(zone_<z>) when zonal.
  - Every host has the variable C(kind) (V(uniform_instance), V(flexible_member) or V(virtual_machine)), C(zone),
    C(platform_fault_domain), C(platform_update_domain) (null where the kind has none), C(health_state) and
    C(latest_model_applied) (null for a plain VM, which has no scale-set model).
  - The inventory file name must end with C(vmss.yml) or C(vmss.yaml).
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - vmss.rollout.azure
options:
  plugin:
    description: Marks the file as a configuration of this plugin.
    required: true
    type: str
    choices: [vmss.rollout.vmss]
  resource_groups:
    description:
      - Resource groups whose scale sets are included. Empty (the default) means every resource group of the
        subscription.
    type: list
    elements: str
    default: []
  names:
    description:
      - Names of the scale sets to include, as exact names or shell-style patterns (C(web-*)). Empty (the default)
        includes every scale set of the selected resource groups.
    type: list
    elements: str
    default: []
  tags:
    description:
      - Only scale sets carrying all these tags. A value of V(null) (C(~)) matches any value of that tag.
    type: dict
    default: {}
  exclude:
    description:
      - Scale sets to leave out, as names (C(web)), C(resource_group/name) (C(rg-demo/web)) or shell-style
        patterns of either (C(canary-*), C(rg-test/*)). Applied after O(names) and O(tags).
    type: list
    elements: str
    default: []
  vm_resource_groups:
    description:
      - Add the plain virtual machines of these resource groups. With only O(vm_names) or O(vm_tags), VMs of the
        whole subscription are considered.
    type: list
    elements: str
    default: []
  vm_names:
    description: Add the plain virtual machines with these names or shell-style patterns (C(db-*)).
    type: list
    elements: str
    default: []
  vm_tags:
    description: Add only plain virtual machines carrying all these tags. A value of V(null) (C(~)) matches any value.
    type: dict
    default: {}
  tags_variable:
    description:
      - Also set the host variable C(tags), the name azure.azcollection's inventory uses, holding the same as
        C(azure_tags).
      - Off by default because ansible-core reserves C(tags) (a play keyword) and warns C(Found variable using
        reserved name 'tags') on every run that uses the inventory.
    type: bool
    default: false
  hostnames:
    description:
      - How hosts are named. V(instance_name) uses the instance's name, for example C(web_3), which is unique
        within a resource group. V(resource_group_instance_name) prefixes the resource group
        (C(rg-demo_web_3)), for inventories spanning resource groups that reuse scale set names.
    type: str
    choices: [instance_name, resource_group_instance_name]
    default: instance_name
notes:
  - Credentials come from this inventory file's options or the environment variables named for each option
    (AWX's Azure credential sets them for an inventory source). C(module_defaults) do not apply to inventory
    plugins.
  - Each host also has an C(azure_tags) variable, holding the scale set's tags with the instance's own tags over
    them (set O(tags_variable) to also have it as C(tags)).
"""

EXAMPLES = r"""
---
# inventory/web.vmss.yml - every instance of the scale sets of one resource group
plugin: vmss.rollout.vmss
resource_groups:
  - rg-demo
names:
  - web
# Credentials come from the AZURE_* environment (as AWX's Azure credential sets it) unless given here.

---
# inventory/estate.vmss.yml - the scale sets (Uniform and Flexible) and the plain VMs of one resource group
plugin: vmss.rollout.vmss
resource_groups: [rg-demo]
vm_resource_groups: [rg-demo]
keyed_groups:
  - key: kind
    prefix: kind

---
# inventory/prod.vmss.yml - tagged scale sets, with extra groups
plugin: vmss.rollout.vmss
tags:
  environment: production
  owner: ~
keyed_groups:
  - key: location
    prefix: location
  - key: latest_model_applied | ternary('current', 'outdated')
    prefix: model
groups:
  unhealthy: health_state == 'unhealthy'
compose:
  app_url: "'http://' ~ private_ip ~ ':8080/health'"
exclude:
  - rg-demo/web-canary
# A cached inventory can be up to cache_timeout seconds old: run with --flush-cache right before a rollout.
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/vmss-inventory
cache_timeout: 300
"""

import difflib
import fnmatch
import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.vmss.rollout.plugins.module_utils.azure_auth import ENV_VARS
from ansible_collections.vmss.rollout.plugins.module_utils.azure_client import private_ips_by_instance
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.instances import instance_id_key, summarize
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.images import image_to_user
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.vms import FLEXIBLE, orchestration_mode, summarize_vm
from ansible_collections.vmss.rollout.plugins.plugin_utils.azure import inventory_services

INVALID_GROUP_CHARS = re.compile(r"[^A-Za-z0-9_]")
# Concurrent list calls (instances and NICs of the Uniform scale sets): each waits mostly on ARM.
MAX_READERS = 8
# The shape of the cached host records; bumped when their keys change (2: "tags" became "azure_tags").
RECORDS_VERSION = 2


def group_name(*parts):
    return INVALID_GROUP_CHARS.sub("_", "_".join(str(part) for part in parts))


def _kind_of(value):
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, (dict, list)):
        return "a %s" % ("mapping" if isinstance(value, dict) else "list")
    return "a %s" % type(value).__name__


def config_problem(config, allowed):
    """One sentence naming the first unknown key or wrongly typed selector in the inventory file, else None (pure).

    Ansible ignores keys a plugin does not define; here a typo ("resource_group:") would silently widen the inventory
    to the whole subscription, so it is refused.
    """
    unknown = sorted(str(key) for key in config if key not in allowed)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(allowed), n=1)
        return "unknown option %r%s; allowed: %s." % (
            unknown[0], " (did you mean %r?)" % close[0] if close else "", ", ".join(sorted(allowed)))
    for option, what in (("resource_groups", "resource group names"),
                         ("names", "scale set names or shell-style patterns such as web-*"),
                         ("vm_resource_groups", "resource group names"),
                         ("vm_names", "virtual machine names or shell-style patterns such as db-*"),
                         ("exclude", "scale set names or resource_group/name, or shell-style patterns")):
        values = config.get(option)
        if values is None:
            continue
        if not isinstance(values, list):
            return "%s must be a list of %s, got %s." % (option, what, _kind_of(values))
        for value in values:
            if not isinstance(value, str):
                return "%s must be a list of %s (strings); %r is %s: quote it if it is a name." % (
                    option, what, value, _kind_of(value))
    for option in ("tags", "vm_tags"):
        tags = config.get(option)
        if isinstance(tags, dict):
            for key, value in tags.items():
                if not isinstance(key, str) or isinstance(value, (dict, list)):
                    return ("%s must map tag names (strings) to a value or null (any value); %r: %r is not allowed."
                            % (option, key, value))
    return None


def scale_set_selected(scale_set, names, tags):
    """True when the scale set matches the name patterns (any) and carries every wanted tag."""
    if names and not any(fnmatch.fnmatchcase(scale_set["name"], pattern) for pattern in names):
        return False
    present = scale_set.get("tags") or {}
    for key, value in tags.items():
        if key not in present or (value is not None and str(present[key]) != str(value)):
            return False
    return True


def scale_set_excluded(scale_set, exclude):
    """True when ``exclude`` names the scale set, by name or resource_group/name (shell-style patterns allowed)."""
    qualified = "%s/%s" % (resource_group_of(scale_set["id"]), scale_set["name"])
    for pattern in exclude:
        candidate = qualified if "/" in pattern else scale_set["name"]
        if fnmatch.fnmatch(candidate.lower(), pattern.lower()):
            return True
    return False


def duplicate_host(names_and_ids):
    """The first host name given to hosts of two different sources (scale sets, VMs), else None (pure)."""
    seen = {}
    for host, vmss_id in names_and_ids:
        if seen.setdefault(host, vmss_id) != vmss_id:
            return host
    return None


def is_flexible(scale_set):
    return orchestration_mode(scale_set) == FLEXIBLE


def resource_group_of(resource_id):
    parts = resource_id.split("/")
    lowered = [part.lower() for part in parts]
    return parts[lowered.index("resourcegroups") + 1]


def read_uniform_sets(service, scale_sets):
    """Start the instance and NIC lists of every Uniform scale set at once: {set id: (instances, NICs) futures}.

    Each list waits mostly on ARM (1000 instance views are about 3 MB of JSON to build, send and parse), so reading
    them side by side overlaps those waits; the caller's token is already held (its scale set list fetched it), so
    the threads never race to sign in. ``result()`` raises a list's VmssError."""
    if not scale_sets:
        return {}
    readers = ThreadPoolExecutor(max_workers=min(MAX_READERS, 2 * len(scale_sets)))
    reads = {}
    for scale_set in scale_sets:
        resource_group = resource_group_of(scale_set["id"])
        reads[scale_set["id"]] = (readers.submit(service.list_instances, resource_group, scale_set["name"]),
                                  readers.submit(service.list_nics, resource_group, scale_set["name"]))
    readers.shutdown(wait=False)  # the submitted lists still run; no more are taken
    return reads


def state_variables(summary):
    """The host variables every kind of host takes from its summary alike (pure)."""
    return {
        "zone": summary.get("zone"),
        "platform_update_domain": summary.get("update_domain"),
        "platform_fault_domain": summary.get("fault_domain"),
        "latest_model_applied": summary.get("latest_model_applied"),
        "provisioning_state": summary.get("provisioning_state"),
        "power_state": summary.get("power_state"),
        "health_state": summary.get("health_state"),
    }


def host_records(scale_set, vms, nics):
    """The host variables of every instance of one scale set (pure: wire dicts in, plain dicts out)."""
    ips = private_ips_by_instance(nics)
    records = []
    for vm in vms:
        summary = summarize(vm, ips)
        records.append({
            "name": summary["name"],
            "kind": "uniform_instance",
            "instance_id": summary["instance_id"],
            "vmss_name": scale_set["name"],
            "vmss_id": scale_set["id"],
            "resource_group": resource_group_of(scale_set["id"]),
            "location": scale_set.get("location"),
            **state_variables(summary),
            "protected": summary.get("protected"),
            "private_ip": summary.get("private_ip"),
            "image": summary.get("image"),
            "azure_tags": dict(scale_set.get("tags") or {}, **(summary.get("tags") or {})),
        })
    return sorted(records, key=lambda r: instance_id_key(r["instance_id"]))


def vm_record(vm, view, ips, scale_set=None):
    """The host variables of one VM, a Flexible member (``scale_set`` given) or a plain VM (pure)."""
    summary = summarize_vm(vm, view, flexible=scale_set is not None)
    props = vm.get("properties") or {}
    tags = dict((scale_set or {}).get("tags") or {}, **(summary.get("tags") or {}))
    return {
        "name": summary["name"],
        "kind": summary["kind"],
        "instance_id": summary["name"],
        "vm_id": vm.get("id"),
        "vmss_name": scale_set["name"] if scale_set else None,
        "vmss_id": scale_set["id"] if scale_set else None,
        "availability_set": summary.get("availability_set"),
        "resource_group": resource_group_of(vm["id"]),
        "location": vm.get("location"),
        **state_variables(summary),
        "protected": False,
        "private_ip": ips.get(summary["name"]),
        "image": image_to_user((props.get("storageProfile") or {}).get("imageReference")),
        "azure_tags": tags,
    }


def vm_selected(vm, names, tags):
    """A plain VM (not a scale set member) matching the name patterns (any; none means all) and every wanted tag."""
    if ((vm.get("properties") or {}).get("virtualMachineScaleSet") or {}).get("id"):
        return False
    return scale_set_selected(vm, names, tags)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "vmss.rollout.vmss"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("vmss.yml", "vmss.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        config = self._read_config_data(path)
        # the keys as written, the selectors as Ansible converted them (a single string becomes a list)
        selectors = dict((key, self.get_option(key)) for key in ("resource_groups", "names", "tags"))
        problem = config_problem(dict(config, **selectors), self._allowed_options())
        if problem:
            raise AnsibleParserError("vmss.rollout.vmss inventory %s: %s" % (path, problem))

        cache_key = self._cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        records = None
        if use_cache:
            try:
                records = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if records is None:
            try:
                records = self._fetch_records()
            except VmssError as err:
                raise AnsibleParserError("vmss.rollout.vmss inventory %s: %s" % (path, err))
        if update_cache:
            self._cache[cache_key] = records
        self._populate(records)

    def _cache_key(self, path):
        """The path's key plus a digest of what decides the records, so another selection never hits it."""
        auth = self._auth_options()
        decisive = {key: self.get_option(key) for key in ("resource_groups", "names", "tags", "exclude",
                                                          "vm_resource_groups", "vm_names", "vm_tags")}
        decisive.update({key: auth.get(key) for key in ("subscription_id", "cloud_environment")})
        decisive["records"] = RECORDS_VERSION  # a cache written with other record keys is never read back
        digest = hashlib.sha256(json.dumps(decisive, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return "%s_%s" % (self.get_cache_key(path), digest)

    def _allowed_options(self):
        allowed = set(self._options)
        for definition in (self.option_definitions or {}).values():
            allowed.update((definition or {}).get("aliases") or [])
        return allowed

    def _auth_options(self):
        return {option: self.get_option(option) for option in ENV_VARS}

    def _fetch_records(self):
        """Plain host records for every selected scale set and VM; the only place this plugin talks to Azure."""
        service, vm_service = inventory_services(self._auth_options())
        names = self.get_option("names") or []
        tags = self.get_option("tags") or {}
        exclude = self.get_option("exclude") or []
        records = []
        nics = {}  # resource group -> its NICs, read once (Flexible members and plain VMs have standalone NICs)

        def ips_of(resource_group):
            if resource_group not in nics:
                nics[resource_group] = private_ips_by_instance(vm_service.list_nics(resource_group))
            return nics[resource_group]

        selected = [scale_set for scale_set in self._scale_sets(service)
                    if scale_set_selected(scale_set, names, tags) and not scale_set_excluded(scale_set, exclude)]
        reads = read_uniform_sets(service, [scale_set for scale_set in selected if not is_flexible(scale_set)])
        for scale_set in selected:
            resource_group = resource_group_of(scale_set["id"])
            if is_flexible(scale_set):
                records.extend(vm_record(vm, view, ips_of(resource_group), scale_set)
                               for vm, view in vm_service.list_members_with_views(resource_group, scale_set["name"]))
                continue
            vms, nic_list = reads[scale_set["id"]]
            records.extend(host_records(scale_set, vms.result(), nic_list.result()))
        if self._wants_vms():
            records.extend(self._vm_records(vm_service, ips_of))
        return records

    def _wants_vms(self):
        return any(self.get_option(key) for key in ("vm_resource_groups", "vm_names", "vm_tags"))

    def _vm_records(self, vm_service, ips_of):
        names = self.get_option("vm_names") or []
        tags = self.get_option("vm_tags") or {}
        resource_groups = self.get_option("vm_resource_groups") or [None]
        records = []
        for resource_group in resource_groups:
            for vm in vm_service.list_vms(resource_group):
                if not vm_selected(vm, names, tags):
                    continue
                vm_rg = resource_group_of(vm["id"])
                view = vm_service.instance_view(vm_rg, vm["name"])
                records.append(vm_record(vm, view, ips_of(vm_rg)))
        return sorted(records, key=lambda r: (r["resource_group"], r["name"]))

    def _scale_sets(self, service):
        resource_groups = self.get_option("resource_groups") or []
        if not resource_groups:
            return service.list_scale_sets()
        found = []
        for resource_group in resource_groups:
            found.extend(service.list_scale_sets(resource_group))
        return found

    def _host_name(self, record):
        if self.get_option("hostnames") == "resource_group_instance_name":
            return "%s_%s" % (record["resource_group"], record["name"])
        return record["name"]

    def _scale_set_group(self, record):
        if self.get_option("hostnames") == "resource_group_instance_name":
            return group_name("vmss", record["resource_group"], record["vmss_name"])
        return group_name("vmss", record["vmss_name"])

    def _groups(self, record):
        """The groups of one host, its main group first."""
        if record["kind"] == "virtual_machine":
            groups = ["virtual_machines"]
            if record.get("availability_set"):
                avset = group_name("availability_set", record["availability_set"].rsplit("/", 1)[-1])
                groups.append(avset)
                if record["platform_update_domain"] is not None:
                    groups.append(group_name(avset, "ud", record["platform_update_domain"]))
        elif record["kind"] == "flexible_member":
            scale_set_group = self._scale_set_group(record)
            groups = [scale_set_group, group_name(scale_set_group, "fd", record["platform_fault_domain"])]
        else:
            scale_set_group = self._scale_set_group(record)
            groups = [scale_set_group, group_name(scale_set_group, "ud", record["platform_update_domain"])]
        if record["zone"]:
            groups.append(group_name("zone", record["zone"]))
        return groups

    @staticmethod
    def _source_id(record):
        return record.get("vmss_id") or record.get("vm_id")

    def _populate(self, records):
        # Every check before the first host is added: an error leaves no half inventory behind.
        names = [(self._host_name(record), self._source_id(record)) for record in records]
        names.extend((host.name, host.vars.get("vmss_id") or host.vars.get("vm_id"))
                     for host in self.inventory.hosts.values() if host.vars.get("vmss_id") or host.vars.get("vm_id"))
        host = duplicate_host(names)
        if host:
            raise AnsibleParserError(
                "vmss.rollout.vmss: two instances are both named %r (scale sets or VMs in different resource groups);"
                " set hostnames: resource_group_instance_name." % host)
        # options read and groups created once, not per host: 1000 hosts otherwise make 5000 option look-ups
        strict = self.get_option("strict")
        tags_variable = self.get_option("tags_variable")
        compose, composed_groups, keyed_groups = (self.get_option(key) for key in ("compose", "groups", "keyed_groups"))
        hosts_and_groups = [(self._host_name(record), self._groups(record)) for record in records]
        created = set()
        for _host, groups in hosts_and_groups:
            for group in groups:
                if group not in created:
                    created.add(group)
                    self.inventory.add_group(group)
        for record, (host, groups) in zip(records, hosts_and_groups):
            hostvars = {key: value for key, value in record.items() if key != "name"}
            hostvars["ansible_host"] = record["private_ip"]
            if tags_variable:
                hostvars["tags"] = record["azure_tags"]
            self.inventory.add_host(host, group=groups[0])
            for group in groups[1:]:
                self.inventory.add_child(group, host)
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            # compose first, so groups and keyed_groups can use composed variables (each is a no-op when unset)
            if compose:
                self._set_composite_vars(compose, hostvars, host, strict=strict)
            if composed_groups:
                self._add_host_to_composed_groups(composed_groups, hostvars, host, strict=strict)
            if keyed_groups:
                self._add_host_to_keyed_groups(keyed_groups, hostvars, host, strict=strict)
