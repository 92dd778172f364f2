# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VmssModule: AnsibleModule by composition, with the shared options and the client built on demand.

Usage in a module::

    module = VmssModule(argument_spec=dict(image=dict(type="dict", required=True)))
    try:
        result = run(module, module.service())
    except VmssError as err:
        module.fail_from_error(err)
    module.exit_json(**result)

The constructor only parses arguments; signing in, cloud discovery and the client happen in ``client()``.
"""

from __future__ import annotations

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmss.rollout.plugins.module_utils.azure_auth import AUTH_ARGSPEC, resolve_auth
from ansible_collections.vmss.rollout.plugins.module_utils.azure_client import compute_client
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.service import CONFLICT_RETRIES, VmssService, \
    is_not_found
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.vms import NOT_A_SCALE_SET, VmService

WAIT_ARGSPEC = {
    "wait_timeout": {"type": "int", "default": 1800},
    "poll_interval": {"type": "float", "default": 15.0},
}

# Every module that writes the scale set model (doc fragment vmss.rollout.conflict).
CONFLICT_ARGSPEC = {
    "conflict_retries": {"type": "int", "default": CONFLICT_RETRIES},
}

SCALE_SET_ARGSPEC = {
    "resource_group": {"type": "str", "required": True},
    # vmss_name: azure.azcollection's name for it, so its playbooks port over
    "name": {"type": "str", "required": True, "aliases": ["vmss_name"]},
}

# The plain virtual machine of the vm_* modules (doc fragment vmss.rollout.virtual_machine).
VM_ARGSPEC = {
    "resource_group": {"type": "str", "required": True},
    "name": {"type": "str", "required": True, "aliases": ["vm_name"]},
}


def wait_options_problem(params):
    """One sentence naming a wait (or conflict_retries) option that cannot work, or None."""
    if params.get("wait_timeout") is not None and params["wait_timeout"] <= 0:
        return "wait_timeout must be a positive number of seconds, got %s." % params["wait_timeout"]
    if params.get("poll_interval") is not None and params["poll_interval"] <= 0:
        return "poll_interval must be a positive number of seconds, got %s." % params["poll_interval"]
    if params.get("conflict_retries") is not None and params["conflict_retries"] < 0:
        return "conflict_retries must be 0 or more, got %d." % params["conflict_retries"]
    return None


def vmss_argument_spec(argument_spec=None, scale_set=True):
    """Module options + the auth and wait options (+ resource_group/name when ``scale_set``)."""
    spec = {}
    spec.update(AUTH_ARGSPEC)
    spec.update(WAIT_ARGSPEC)
    if scale_set:
        spec.update(SCALE_SET_ARGSPEC)
    spec.update(argument_spec or {})
    return spec


class VmssModule:
    """What the modules need from AnsibleModule, plus the lazily built Azure client."""

    def __init__(self, argument_spec=None, scale_set=True, supports_check_mode=True, vm_module="vm_info", **kwargs):
        # the sibling module for plain VMs, named when a scale-set module is pointed at one
        self.vm_module = vm_module if scale_set else None
        self.ansible = AnsibleModule(argument_spec=vmss_argument_spec(argument_spec, scale_set),
                                     supports_check_mode=supports_check_mode, **kwargs)
        problem = wait_options_problem(self.ansible.params)
        if problem:
            self.ansible.fail_json(msg=problem)
        self._client = None
        self._auth = None

    @property
    def params(self):
        return self.ansible.params

    @property
    def check_mode(self):
        return self.ansible.check_mode

    @property
    def diff_mode(self):
        return self.ansible._diff

    @property
    def wait_timeout(self):
        return self.params["wait_timeout"]

    @property
    def poll_interval(self):
        return self.params["poll_interval"]

    def auth(self):
        if self._auth is None:
            self._auth = resolve_auth(self.params)
            for value in self._auth.secrets:
                self.ansible.no_log_values.add(value)
        return self._auth

    def client(self):
        """The ComputeManagementClient, created on first use."""
        if self._client is None:
            self._client = compute_client(self.auth(), poll_interval=self.poll_interval, timeout=self.wait_timeout)
        return self._client

    def service(self):
        """A VmssService over client(): the one assembly of auth, client and service on the module side."""
        return VmssService(self.client(), self.auth().subscription_id)

    def vm_service(self):
        """A VmService over client(), for plain VMs and Flexible members."""
        return VmService(self.client(), self.auth().subscription_id)

    def fail(self, msg, **result):
        """Fail with one sentence naming the option at fault; nothing has been written to Azure."""
        self.ansible.fail_json(msg=msg, **result)

    def fail_from_error(self, err, **result):
        """Fail with a VmssError's sentence and its ARM code / request id; no traceback for the user."""
        if not isinstance(err, VmssError):
            raise err
        err = self._explain_not_found(err)
        extra = dict(err.as_result())
        extra.update(result)
        self.ansible.fail_json(msg=err.msg, **extra)

    def _explain_not_found(self, err):
        """A scale set's ResourceNotFound becomes NotAScaleSet when the name is a virtual machine's (one extra GET,
        only on that failure): users point vmss_* modules at VMs, and "not found" sends them looking for typos."""
        if getattr(self, "vm_module", None) is None or self._client is None or not is_not_found(err):
            return err
        rg, name = self.params["resource_group"], self.params["name"]
        try:
            self.vm_service().get_vm(rg, name)
        except VmssError:
            return err
        return VmssError("%s/%s is a virtual machine, not a scale set; use vmss.rollout.%s for virtual machines."
                         % (rg, name, self.vm_module), code=NOT_A_SCALE_SET, request_id=err.request_id,
                         status=err.status)

    def warn(self, text):
        self.ansible.warn(text)

    def exit_json(self, **result):
        self.ansible.exit_json(**result)

    def result(self, changed, before=None, after=None, **values):
        """A result dict with ``diff`` added when diff mode is on (before/after are plain dicts)."""
        values["changed"] = changed
        if self.diff_mode and (before is not None or after is not None):
            values["diff"] = {"before": before or {}, "after": after or {}}
        return values
