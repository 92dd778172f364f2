"""The one check of the rollout options (the action's and, through the filter, the rolling_upgrade role's)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vmss.rollout.plugins.filter.rollout_option_errors import rollout_option_errors
from ansible_collections.vmss.rollout.plugins.module_utils._vmss.rollout_options import option_errors

GOOD = {"batch": "update_domain", "max_unhealthy_percent": 20, "max_unhealthy_upgraded_percent": "20",
        "health_timeout": 600, "wait_timeout": 1800, "poll_interval": 0.5, "http_timeout": 5, "http_retries": 10,
        "http_delay": 3, "drain_seconds": 10, "bake_seconds": 0, "pause_seconds": 0,
        "http_url": "http://{private_ip}:8080/health", "drain_url": "http://{private_ip}:8080/drain/{instance_id}"}


@pytest.mark.parametrize("batch", ["update_domain", 3, "3", "100%", [1, "10%", "25%"]])
def test_good_options_pass(batch):
    assert option_errors(dict(GOOD, batch=batch), "image_rollout_") == []


def test_https_urls_and_a_placeholder_host_pass():
    assert option_errors({"http_url": "https://{name}.internal.example:8443/healthz?probe=1",
                          "drain_url": "http://10.0.0.4/drain/{instance_id}"}) == []


@pytest.mark.parametrize("name,value,expected", [
    ("batch", 0, 'image_rollout_batch must be "update_domain", a positive integer'),
    ("batch", "0%", "image_rollout_batch must be"),
    ("batch", "150%", "image_rollout_batch must be"),
    ("batch", "fault_domain", 'got "fault_domain".'),
    ("batch", [], "got []."),
    ("batch", [1, "x"], 'got [1, "x"].'),
    ("batch", True, "got true."),
    ("max_unhealthy_percent", 101, "image_rollout_max_unhealthy_percent must be between 0 and 100, got 101."),
    ("max_unhealthy_upgraded_percent", "-1", "image_rollout_max_unhealthy_upgraded_percent must be between 0 and 100, got -1."),
    ("health_timeout", 0, "image_rollout_health_timeout must be a positive number of seconds, got 0."),
    ("poll_interval", "soon", 'image_rollout_poll_interval must be a positive number of seconds, got "soon".'),
    ("bake_seconds", -5, "image_rollout_bake_seconds must not be negative, got -5."),
    ("http_url", "http://{private_ip:8080/health", "image_rollout_http_url must be a URL whose {field} placeholders"),
    ("drain_url", "http://{private ip}/drain", "(placeholder {private ip} is not a plain field name)."),
    ("drain_url", "http://{privat_ip}/drain", 'image_rollout_drain_url names unknown instance field(s) privat_ip in '
                                              '"http://{privat_ip}/drain"; its {field} placeholders may name: instance_id'),
    ("http_url", "nope", 'image_rollout_http_url must be an http:// or https:// URL with a host, such as '
                         '"http://{private_ip}:8080/health"; got "nope".'),
    ("drain_url", "ftp://{private_ip}/drain", 'image_rollout_drain_url must be an http:// or https:// URL'),
    ("http_url", "http:///health", 'got "http:///health".'),
])
def test_each_bad_option_is_one_sentence_naming_it_with_the_prefix(name, value, expected):
    errors = option_errors(dict(GOOD, **{name: value}), "image_rollout_")
    assert len(errors) == 1 and expected in errors[0], errors


def test_several_bad_options_give_one_sentence_each_and_absent_ones_are_not_checked():
    errors = option_errors({"bake_seconds": -1, "pause_seconds": -2})
    assert errors == ["bake_seconds must not be negative, got -1.", "pause_seconds must not be negative, got -2."]


def test_the_filter_is_the_same_check_and_wants_a_dict():
    assert rollout_option_errors({"health_timeout": 0}, "x_") == option_errors({"health_timeout": 0}, "x_")
    with pytest.raises(AnsibleFilterError, match="expects a dict"):
        rollout_option_errors(["batch"])


def test_instance_ids_are_checked_against_the_set_except_for_a_surge_which_replaces_them():
    instances = [{"instance_id": "0", "update_domain": 0}, {"instance_id": "7", "update_domain": 1}]
    gone = {"instance_ids": ["3"], "update_domains": [1]}
    assert rollout_option_errors(gone, "x_", instances=instances) == [
        "x_instance_ids 3 do not exist in the scale set (instances: 0, 7)."]
    # a surge rerun resumes after instance 3 was replaced by 7
    assert rollout_option_errors(dict(gone, strategy="surge"), "x_", instances=instances) == []
    assert rollout_option_errors(dict(gone, strategy="surge", update_domains=[4]), "x_", instances=instances) == [
        "x_update_domains 4 match no instance of the scale set (its update domains: 0, 1)."]


def test_only_near_misses_of_an_option_read_as_misspelt():
    from ansible_collections.vmss.rollout.plugins.module_utils._vmss.rollout_options import misspelt_options
    options = ["x_batch", "x_drain", "x_max_unhealthy_percent", "x_image", "x_health_tasks"]
    names = ["x_batchsize", "x_batch_size", "x_dran", "x_max_unhealty_percent", "x_max_unhealthy",
             "x_image_version", "x_item", "x_canary_size", "x_batch", "y_batchsize", "x_health_tasks_file"]
    assert misspelt_options(names, options, "x_") == [
        ("x_batch_size", "x_batch"), ("x_batchsize", "x_batch"), ("x_dran", "x_drain"),
        ("x_health_tasks_file", "x_health_tasks"), ("x_max_unhealthy", "x_max_unhealthy_percent"),
        ("x_max_unhealty_percent", "x_max_unhealthy_percent")]


def _names_set_in(node, found):
    """Variable names a task file introduces: register, loop_var, set_fact keys and vars keys (recursively)."""
    if isinstance(node, list):
        for item in node:
            _names_set_in(item, found)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("register", "loop_var") and isinstance(value, str):
                found.add(value)
            elif key in ("ansible.builtin.set_fact", "set_fact", "vars") and isinstance(value, dict):
                found.update(k for k in value if isinstance(k, str))
            _names_set_in(value, found)


@pytest.mark.parametrize("role", ["rolling_upgrade", "image_rollout", "extension_rollout"])
def test_no_variable_the_collection_sets_itself_reads_as_a_misspelt_option(role):
    """The roles' own variables (a loop over extension_rollout_targets names its item extension_rollout_target) must
    never trip the misspelt-option check that refuses a user's near miss."""
    import pathlib
    import yaml
    from ansible_collections.vmss.rollout.plugins.module_utils._vmss.rollout_options import misspelt_options
    repo = pathlib.Path(__file__).resolve().parents[4]
    spec = yaml.safe_load((repo / "roles" / role / "meta" / "argument_specs.yml").read_text())
    options = set(name for entry in spec["argument_specs"].values() for name in entry["options"])
    found = set()
    for path in sorted((repo / "roles").glob("*/tasks/*.yml")) + sorted((repo / "playbooks").glob("*.yml")):
        _names_set_in(yaml.safe_load(path.read_text()), found)
    assert "extension_rollout_target" in found   # the scan sees loop_var
    assert misspelt_options(found, options, role + "_") == []
