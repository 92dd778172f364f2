# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image references and upgrade policies: user options <-> ARM wire dicts, comparison, minimal PATCH (pure)."""

from __future__ import annotations

__metaclass__ = type

import copy

PLATFORM_KEYS = ("publisher", "offer", "sku", "version")
# user option -> ARM imageReference key, for the kinds of image that are named by one id
ID_KEYS = (("id", "id"), ("shared_gallery_image_id", "sharedGalleryImageId"),
           ("community_gallery_image_id", "communityGalleryImageId"))
ALL_WIRE_KEYS = PLATFORM_KEYS + tuple(wire for _user, wire in ID_KEYS)
UPGRADE_MODES = ("Automatic", "Manual", "Rolling")

# rolling_upgrade_policy suboption -> ARM key
ROLLING_POLICY_KEYS = (
    ("max_batch_instance_percent", "maxBatchInstancePercent"),
    ("max_unhealthy_instance_percent", "maxUnhealthyInstancePercent"),
    ("max_unhealthy_upgraded_instance_percent", "maxUnhealthyUpgradedInstancePercent"),
    ("pause_time_between_batches", "pauseTimeBetweenBatches"),
    ("enable_cross_zone_upgrade", "enableCrossZoneUpgrade"),
    ("prioritize_unhealthy_instances", "prioritizeUnhealthyInstances"),
    ("rollback_failed_instances_on_policy_breach", "rollbackFailedInstancesOnPolicyBreach"),
    ("max_surge", "maxSurge"),
)


class ImageError(ValueError):
    """Invalid image or policy input; the message names the option."""


def image_to_wire(image):
    """The user's ``image`` option -> an ARM imageReference. Raises ImageError naming ``image``."""
    if not isinstance(image, dict) or not image:
        raise ImageError("image must be a dict of publisher, offer, sku and version, or of id "
                         "(or shared_gallery_image_id / community_gallery_image_id).")
    allowed = PLATFORM_KEYS + tuple(user for user, _wire in ID_KEYS)
    unknown = sorted(k for k in image if k not in allowed)
    if unknown:
        raise ImageError("image has unknown key(s) %s; allowed: %s." % (", ".join(unknown), ", ".join(allowed)))
    given = dict((k, v) for k, v in image.items() if v not in (None, ""))
    ids = [user for user, _wire in ID_KEYS if user in given]
    platform = [k for k in PLATFORM_KEYS if k in given]
    if ids and platform:
        raise ImageError("image takes either publisher/offer/sku/version or %s, not both." % ids[0])
    if len(ids) > 1:
        raise ImageError("image takes only one of id, shared_gallery_image_id, community_gallery_image_id.")
    if ids:
        wire = dict(ID_KEYS)[ids[0]]
        value = str(given[ids[0]])
        if ids[0] == "id" and not value.startswith("/subscriptions/"):
            raise ImageError("image.id must be a full resource id starting with /subscriptions/, got %r." % value)
        return {wire: value}
    missing = [k for k in PLATFORM_KEYS if k not in given]
    if missing:
        raise ImageError("image needs publisher, offer, sku and version (missing: %s), or an id." % ", ".join(missing))
    return dict((k, str(given[k])) for k in PLATFORM_KEYS)


def image_from_model(vmss):
    """The imageReference of a scale set (wire dict) without read-only or empty keys."""
    props = vmss.get("properties") or {}
    ref = ((props.get("virtualMachineProfile") or {}).get("storageProfile") or {}).get("imageReference") or {}
    return dict((k, ref[k]) for k in ALL_WIRE_KEYS if ref.get(k) not in (None, ""))


def image_to_user(ref):
    """ARM imageReference -> the user's option shape (only keys that are set)."""
    result = {}
    for key in PLATFORM_KEYS:
        if (ref or {}).get(key) not in (None, ""):
            result[key] = ref[key]
    for user, wire in ID_KEYS:
        if (ref or {}).get(wire) not in (None, ""):
            result[user] = ref[wire]
    if (ref or {}).get("exactVersion"):
        result["exact_version"] = ref["exactVersion"]
    return result


def _norm(key, value):
    # ARM treats names and resource ids case-insensitively; a version is compared as written.
    return value if key == "version" and value.lower() != "latest" else value.lower()


def _comparable(ref):
    return dict((k, _norm(k, str(v))) for k, v in (ref or {}).items() if k in ALL_WIRE_KEYS and v not in (None, ""))


def images_equal(current, desired):
    return _comparable(current) == _comparable(desired)


def image_patch(current, desired):
    """The imageReference to PATCH: the desired keys, and null for keys of the other kind (merge-patch removal)."""
    patch = copy.deepcopy(desired)
    for key in current:
        if key not in desired:
            patch[key] = None
    return patch


def rolling_policy_to_wire(policy):
    if not policy:
        return {}
    wire = {}
    for user, arm in ROLLING_POLICY_KEYS:
        if policy.get(user) is not None:
            wire[arm] = policy[user]
    return wire


def rolling_policy_to_user(wire):
    return dict((user, (wire or {})[arm]) for user, arm in ROLLING_POLICY_KEYS if (wire or {}).get(arm) is not None)


def upgrade_policy_of(vmss):
    return copy.deepcopy((vmss.get("properties") or {}).get("upgradePolicy") or {})


def automatic_refusal(option, what, resource_group, name, policy, allowed, instead):
    """The one sentence refusing a model change under upgradePolicy mode Automatic, or None.

    Under Automatic, Azure applies any model change to every instance at once; the modules that change the
    model refuse it unless allow_automatic_upgrade (``allowed``). ``instead`` says how to avoid that.
    """
    if allowed or ((policy or {}).get("mode") or "").lower() != "automatic":
        return None
    return ("%s: refusing to change %s of scale set %s/%s because its upgradePolicy mode is Automatic, so Azure "
            "would restart every instance at once. Set allow_automatic_upgrade: true to accept that, or %s."
            % (option, what, resource_group, name, instead))


def upgrade_policy_to_user(wire):
    result = {"mode": (wire or {}).get("mode")}
    rolling = rolling_policy_to_user((wire or {}).get("rollingUpgradePolicy"))
    if rolling:
        result["rolling_upgrade_policy"] = rolling
    return result


def upgrade_policy_patch(current, mode=None, rolling_policy=None):
    """The upgradePolicy subtree to PATCH, holding only what differs, or {} when nothing does."""
    patch = {}
    if mode and (current.get("mode") or "").lower() != mode.lower():
        patch["mode"] = mode
    wanted = rolling_policy_to_wire(rolling_policy)
    have = current.get("rollingUpgradePolicy") or {}
    changed = dict((k, v) for k, v in wanted.items() if have.get(k) != v)
    if changed:
        patch["rollingUpgradePolicy"] = changed
    return patch


def apply_policy_patch(current, patch):
    """The upgradePolicy after ``patch`` (for diffs and predictions)."""
    result = copy.deepcopy(current)
    if "mode" in patch:
        result["mode"] = patch["mode"]
    if patch.get("rollingUpgradePolicy"):
        merged = dict(result.get("rollingUpgradePolicy") or {})
        merged.update(patch["rollingUpgradePolicy"])
        result["rollingUpgradePolicy"] = merged
    return result


def model_patch(image_ref_patch=None, policy_patch=None):
    """The ``properties`` body of one PATCH carrying only the image and/or upgrade-policy changes."""
    props = {}
    if image_ref_patch:
        props["virtualMachineProfile"] = {"storageProfile": {"imageReference": image_ref_patch}}
    if policy_patch:
        props["upgradePolicy"] = policy_patch
    return props
