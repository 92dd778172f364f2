#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
module: vmss_model_image
short_description: Set the OS image (and upgrade policy) of an Azure VM scale set model
version_added: 0.1.0
description:
  - Sets the image reference of a Uniform virtual machine scale set's model with one PATCH of just that subtree,
    guarded by the etag read just before (never a full PUT, which would overwrite concurrent edits).
  - If someone else changes the scale set between the read and the write, Azure answers 412; the module reads
    again and re-applies only its own change, a bounded number of times.
  - Existing instances keep running the old image until they are upgraded, for example with
    M(vmss.rollout.vmss_instance_upgrade) or the C(vmss.rollout.rolling_upgrade) role.
  - Returns the previous image, so a rollback can restore it.
  - Optionally sets the upgrade policy mode and rolling upgrade policy in the same PATCH.
options:
  image:
    description:
      - The image for the model. Either O(image.publisher), O(image.offer), O(image.sku) and O(image.version)
        (a platform image), or O(image.id) (a managed image or gallery image version), or
        O(image.shared_gallery_image_id), or O(image.community_gallery_image_id).
      - Names and ids are compared case-insensitively, so an equal image is not written again.
    type: dict
    required: true
    suboptions:
      publisher:
        description: Image publisher, for example C(Canonical).
        type: str
      offer:
        description: Image offer, for example C(ubuntu-24_04-lts).
        type: str
      sku:
        description: Image SKU, for example C(server).
        type: str
      version:
        description: Image version, or C(latest).
        type: str
      id:
        description: Resource id of a managed image or of a compute gallery image (version).
        type: str
      shared_gallery_image_id:
        description: Id of a directly shared gallery image (version).
        type: str
      community_gallery_image_id:
        description: Id of a community gallery image (version).
        type: str
  upgrade_policy:
    description:
      - Set the upgrade policy mode. V(Automatic) restarts every instance at once after a model change.
    type: str
    choices: [Automatic, Manual, Rolling]
  rolling_upgrade_policy:
    description: Settings of Azure's own rolling upgrades (only those given are changed).
    type: dict
    suboptions:
      max_batch_instance_percent:
        description: Largest share of instances upgraded in one batch (5-100).
        type: int
      max_unhealthy_instance_percent:
        description: Largest share of the whole set that may be unhealthy before a batch (5-100).
        type: int
      max_unhealthy_upgraded_instance_percent:
        description: Largest share of upgraded instances that may be unhealthy (0-100).
        type: int
      pause_time_between_batches:
        description: ISO 8601 duration between batches, for example C(PT10S).
        type: str
      enable_cross_zone_upgrade:
        description: Let batches span availability zones.
        type: bool
      prioritize_unhealthy_instances:
        description: Upgrade unhealthy instances first.
        type: bool
      rollback_failed_instances_on_policy_breach:
        description: Roll failed instances back to the previous model when the policy is breached.
        type: bool
      max_surge:
        description: Create new instances on the new model before removing old ones.
        type: bool
  allow_automatic_upgrade:
    description:
      - When the upgrade policy mode is (or becomes) V(Automatic), Azure restarts every instance at once as soon
        as the image changes. The module refuses that unless this is V(true).
    type: bool
    default: false
extends_documentation_fragment:
  - vmss.rollout.scale_set
  - vmss.rollout.azure
  - vmss.rollout.wait
  - vmss.rollout.conflict
  - vmss.rollout.attributes
author:
  - vmss.rollout maintainers (@vmss-rollout)
"""

EXAMPLES = r"""
- name: Move the model to a new platform image version
  vmss.rollout.vmss_model_image:
    resource_group: rg-demo
    name: web
    image:
      publisher: Canonical
      offer: ubuntu-24_04-lts
      sku: server
      version: "1.0.1"
  register: image_change

- name: Use a compute gallery image version and switch to Rolling in the same write
  vmss.rollout.vmss_model_image:
    resource_group: rg-demo
    name: web
    image:
      id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-img/providers/Microsoft.Compute/galleries/g/images/web/versions/2.0.0
    upgrade_policy: Rolling
    rolling_upgrade_policy:
      max_batch_instance_percent: 20
      pause_time_between_batches: PT10S

- name: Roll back to the previous image
  vmss.rollout.vmss_model_image:
    resource_group: rg-demo
    name: web
    image: "{{ image_change.previous_image }}"
"""

RETURN = r"""
previous_image:
  description: The model's image before the task (same keys as O(image)).
  returned: always
  type: dict
  sample: {publisher: Canonical, offer: ubuntu-24_04-lts, sku: server, version: "1.0.0"}
image:
  description: The model's image after the task (predicted in check mode).
  returned: always
  type: dict
  sample: {publisher: Canonical, offer: ubuntu-24_04-lts, sku: server, version: "1.0.1"}
upgrade_policy:
  description: The upgrade policy after the task, C(mode) and C(rolling_upgrade_policy) in snake_case.
  returned: always
  type: dict
  sample: {mode: Manual}
etag:
  description: The scale set's etag after the task.
  returned: always
  type: str
  sample: '"4"'
conflicts:
  description: How many concurrent edits (HTTP 412) were met and resolved by re-reading.
  returned: always
  type: int
  sample: 0
"""

from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssError
from ansible_collections.vmss.rollout.plugins.module_utils.module import CONFLICT_ARGSPEC, VmssModule
from ansible_collections.vmss.rollout.plugins.module_utils._vmss import images
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.service import write_on_latest

IMAGE_SUBOPTIONS = dict((key, {"type": "str"}) for key in (
    "publisher", "offer", "sku", "version", "id", "shared_gallery_image_id", "community_gallery_image_id"))
ROLLING_SUBOPTIONS = {
    "max_batch_instance_percent": {"type": "int"},
    "max_unhealthy_instance_percent": {"type": "int"},
    "max_unhealthy_upgraded_instance_percent": {"type": "int"},
    "pause_time_between_batches": {"type": "str"},
    "enable_cross_zone_upgrade": {"type": "bool"},
    "prioritize_unhealthy_instances": {"type": "bool"},
    "rollback_failed_instances_on_policy_breach": {"type": "bool"},
    "max_surge": {"type": "bool"},
}
ARGUMENT_SPEC = {
    "image": {"type": "dict", "required": True, "options": IMAGE_SUBOPTIONS},
    "upgrade_policy": {"type": "str", "choices": list(images.UPGRADE_MODES)},
    "rolling_upgrade_policy": {"type": "dict", "options": ROLLING_SUBOPTIONS},
    "allow_automatic_upgrade": {"type": "bool", "default": False},
}
ARGUMENT_SPEC.update(CONFLICT_ARGSPEC)

PERCENT_RANGES = {"max_batch_instance_percent": (5, 100), "max_unhealthy_instance_percent": (5, 100),
                  "max_unhealthy_upgraded_instance_percent": (0, 100)}


def validate(params):
    """The desired imageReference; raises ImageError naming the option. Runs before any call to Azure."""
    desired = images.image_to_wire(params["image"])
    for key, (low, high) in PERCENT_RANGES.items():
        value = (params.get("rolling_upgrade_policy") or {}).get(key)
        if value is not None and not low <= value <= high:
            raise images.ImageError("rolling_upgrade_policy.%s must be between %d and %d, got %d."
                                    % (key, low, high, value))
    return desired


def compute_change(vmss, desired, params):
    """(model patch properties, current image, policy before, policy after) for one read of the scale set."""
    current = images.image_from_model(vmss)
    policy_before = images.upgrade_policy_of(vmss)
    image_patch = None if images.images_equal(current, desired) else images.image_patch(current, desired)
    policy_patch = images.upgrade_policy_patch(policy_before, params["upgrade_policy"], params["rolling_upgrade_policy"])
    policy_after = images.apply_policy_patch(policy_before, policy_patch)
    return images.model_patch(image_patch, policy_patch), current, policy_before, policy_after


def refuse_automatic(params, patch, policy_after):
    """The reason to refuse, or None: an image change under mode Automatic restarts every instance at once."""
    if "virtualMachineProfile" not in patch:
        return None
    return images.automatic_refusal("image", "the image", params["resource_group"], params["name"], policy_after,
                                    params["allow_automatic_upgrade"], "set upgrade_policy: Manual or Rolling")


def run(module, service):
    params = module.params
    rg, name = params["resource_group"], params["name"]
    desired = validate(params)
    reads = []  # (scale set, computed change) per read: the first is "before", the last decides the outcome

    def compute(vmss):
        reads.append((vmss, compute_change(vmss, desired, params)))
        patch, _current, _policy_before, policy_after = reads[-1][1]
        reason = refuse_automatic(params, patch, policy_after)
        if reason:
            module.fail(reason)
        return patch if patch and not module.check_mode else None

    def write(vmss, patch):
        return service.update_model(rg, name, patch, vmss.get("etag"), module.wait_timeout)

    vmss, written_vmss, conflicts = write_on_latest(lambda: service.get(rg, name), compute, write,
                                                    params["conflict_retries"], rg, name,
                                                    busy_timeout=module.wait_timeout, poll_interval=module.poll_interval,
                                                    say=module.warn)
    previous_image = images.image_from_model(reads[0][0])
    previous_policy = images.upgrade_policy_of(reads[0][0])
    patch, current, _policy_before, policy_after = reads[-1][1]
    written = written_vmss is not None
    if written:
        vmss = written_vmss
        after_image = images.image_from_model(vmss)
        policy_after = images.upgrade_policy_of(vmss)
    else:
        after_image = desired if "virtualMachineProfile" in patch else current

    changed = written or (module.check_mode and bool(patch))
    before = {"image": images.image_to_user(previous_image),
              "upgrade_policy": images.upgrade_policy_to_user(previous_policy)}
    after = {"image": images.image_to_user(after_image), "upgrade_policy": images.upgrade_policy_to_user(policy_after)}
    return module.result(
        changed, before=before if changed else None, after=after if changed else None,
        previous_image=before["image"], image=after["image"], upgrade_policy=after["upgrade_policy"],
        etag=vmss.get("etag"), conflicts=conflicts,
    )


def main():
    module = VmssModule(argument_spec=ARGUMENT_SPEC)
    try:
        validate(module.params)
        result = run(module, module.service())
    except images.ImageError as err:
        module.fail(str(err))
    except VmssError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
