"""Image option validation, comparison and the minimal PATCH body."""
import pytest

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import images

PLATFORM = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0.0"}
GALLERY_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/web/versions/2.0.0"


def test_platform_and_id_forms():
    assert images.image_to_wire(PLATFORM) == PLATFORM
    assert images.image_to_wire({"id": GALLERY_ID, "publisher": None}) == {"id": GALLERY_ID}
    assert images.image_to_wire({"community_gallery_image_id": "/CommunityGalleries/x/images/y"}) == {
        "communityGalleryImageId": "/CommunityGalleries/x/images/y"}
    assert images.image_to_wire({"shared_gallery_image_id": "/SharedGalleries/x/images/y"}) == {
        "sharedGalleryImageId": "/SharedGalleries/x/images/y"}


@pytest.mark.parametrize("bad,match", [
    ({}, "image must be a dict"),
    ({"publisher": "a", "offer": "b", "sku": "c"}, "missing: version"),
    (dict(PLATFORM, id=GALLERY_ID), "not both"),
    ({"id": GALLERY_ID, "shared_gallery_image_id": "x"}, "only one"),
    ({"id": "not-a-resource-id"}, "image.id must be a full resource id"),
    ({"colour": "blue"}, "unknown key"),
])
def test_invalid_images_name_the_option(bad, match):
    with pytest.raises(images.ImageError, match=match):
        images.image_to_wire(bad)


def test_equal_ignores_case_of_names_and_ids_but_not_versions():
    assert images.images_equal(PLATFORM, dict(PLATFORM, publisher="canonical", sku="SERVER"))
    assert not images.images_equal(PLATFORM, dict(PLATFORM, version="1.0.1"))
    assert images.images_equal(dict(PLATFORM, version="latest"), dict(PLATFORM, version="Latest"))
    assert images.images_equal({"id": GALLERY_ID}, {"id": GALLERY_ID.lower()})
    assert not images.images_equal(PLATFORM, {"id": GALLERY_ID})


def test_image_from_model_drops_empty_and_read_only_keys():
    vmss = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": dict(
        PLATFORM, exactVersion="1.0.0", id=None)}}}}
    assert images.image_from_model(vmss) == PLATFORM
    assert images.image_from_model({}) == {}


def test_patch_nulls_the_other_kind_of_image():
    assert images.image_patch(PLATFORM, {"id": GALLERY_ID}) == {
        "id": GALLERY_ID, "publisher": None, "offer": None, "sku": None, "version": None}
    assert images.image_patch(PLATFORM, dict(PLATFORM, version="2")) == dict(PLATFORM, version="2")


def test_model_patch_holds_only_the_changed_subtrees():
    assert images.model_patch({"version": "2"}, None) == {
        "virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "2"}}}}
    assert images.model_patch(None, {"mode": "Rolling"}) == {"upgradePolicy": {"mode": "Rolling"}}
    assert images.model_patch(None, {}) == {}


def test_upgrade_policy_patch_only_differences():
    current = {"mode": "Manual", "rollingUpgradePolicy": {"maxBatchInstancePercent": 20}}
    assert images.upgrade_policy_patch(current, "manual", {"max_batch_instance_percent": 20}) == {}
    patch = images.upgrade_policy_patch(current, "Rolling", {"max_batch_instance_percent": 20,
                                                             "pause_time_between_batches": "PT5S"})
    assert patch == {"mode": "Rolling", "rollingUpgradePolicy": {"pauseTimeBetweenBatches": "PT5S"}}
    after = images.apply_policy_patch(current, patch)
    assert images.upgrade_policy_to_user(after) == {
        "mode": "Rolling",
        "rolling_upgrade_policy": {"max_batch_instance_percent": 20, "pause_time_between_batches": "PT5S"}}


def test_image_to_user_round_trip():
    assert images.image_to_user(images.image_to_wire({"shared_gallery_image_id": "x"})) == {
        "shared_gallery_image_id": "x"}
    assert images.image_to_user(dict(PLATFORM, exactVersion="1.0.0"))["exact_version"] == "1.0.0"
