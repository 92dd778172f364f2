"""Test-only shim for azure.azcollection 3.12 (the one the `ansible` 12.3 package bundles): with a URL as
cloud_environment it calls azure.cli.core.cloud.get_cloud_from_metadata_endpoint, which its pinned
azure-cli-core 2.75 no longer has (the module dies with "'AttributeError' object has no attribute 'message'").
This puts a small equivalent back, reading ARM's metadata document the way `az cloud register` does. It is on
PYTHONPATH only for test_azcollection.py's ansible-playbook run."""


def _install() -> None:
    try:
        from azure.cli.core import cloud
    except ImportError:
        return
    if hasattr(cloud, "get_cloud_from_metadata_endpoint"):
        return

    def get_cloud_from_metadata_endpoint(url, name=None, session=None):  # pylint: disable=unused-argument
        import requests
        answer = requests.get(url.rstrip("/") + "/metadata/endpoints?api-version=2022-09-01", timeout=30)
        answer.raise_for_status()
        metadata = answer.json()
        if isinstance(metadata, list):
            metadata = metadata[0]
        return cloud._arm_to_cli_mapper(metadata)  # pylint: disable=protected-access

    cloud.get_cloud_from_metadata_endpoint = get_cloud_from_metadata_endpoint


_install()
