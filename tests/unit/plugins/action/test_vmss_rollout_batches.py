"""vmss_rollout_batches' guard against going on for an ansible-playbook that was killed."""
import os

import pytest

from ansible_collections.vmss.rollout.plugins.action import vmss_rollout_batches as action


class NoHttp:
    """Stands in for probes.make_sender's result: any request sent is a test failure."""

    def __call__(self, *args, **kwargs):
        raise AssertionError("a request was sent")


ARGS = {"drain_url": "http://{private_ip}:8080/drain", "http_timeout": 1, "validate_certs": True}


def test_watch_passes_while_the_parent_lives():
    action.controller_watch(os.getppid())("upgrading instances 1")


def test_watch_names_the_step_it_stops_before():
    with pytest.raises(action.ControllerGone, match="gone: stopped before upgrading instances 1"):
        action.controller_watch(os.getppid() + 1)("upgrading instances 1")


def test_drain_sends_nothing_once_the_controller_is_gone(monkeypatch):
    monkeypatch.setattr(action.probes, "make_sender", lambda *a, **k: NoHttp())
    steps = action.AzureSteps(None, ARGS, False, action.controller_watch(os.getppid() + 1))
    with pytest.raises(action.ControllerGone, match="draining instances 3, 4"):
        steps.drain([{"instance_id": "3", "private_ip": "10.0.0.3"}, {"instance_id": "4", "private_ip": "10.0.0.4"}])


def test_upgrade_calls_nothing_once_the_controller_is_gone():
    class NoService:
        def __getattr__(self, name):
            raise AssertionError("Azure was called: %s" % name)

    view = [{"instance_id": "1", "health_state": "healthy", "latest_model_applied": False,
             "provisioning_state": "Succeeded", "power_state": "running", "protected": False, "update_domain": 1,
             "zone": None, "image": None, "private_ip": None, "name": "vm_1", "fault_domain": 1}]
    args = dict(ARGS, resource_group="rg", name="vmss", poll_interval=1, wait_timeout=60, health_timeout=30,
                auth_source="auto", validate_certs=True)
    target = action.UniformScaleSet(NoService(), "rg", "vmss", {"wait_timeout": 60, "poll_interval": 1,
                                                                "health_timeout": 30})
    said = []
    steps = action.AzureSteps(target, args, False, action.controller_watch(os.getppid() + 1), said.append)
    with pytest.raises(action.ControllerGone, match="upgrading instances 1"):
        steps.upgrade(["1"], 0.2, view)
    # the drain's wait before the upgrade call is said, not silent
    assert said == ["Draining instances 1 before the upgrade: 0.2 s."]


def test_an_unknown_placeholder_field_is_refused_naming_the_option_and_the_fields():
    args = {"wait_timeout": 60, "poll_interval": 1, "max_unhealthy_percent": 20, "max_unhealthy_upgraded_percent": 20,
            "health_timeout": 30, "drain_seconds": 0, "http_timeout": 5, "http_retries": 1, "http_delay": 1,
            "bake_seconds": 0, "pause_seconds": 0, "http_url": "http://{private_ip}:8080/health",
            "drain_url": "http://{privat_ip}:8080/drain", "batch": None, "plan": [], "conflict_retries": 3}
    problem = action.bad_option(args)
    assert problem.startswith('drain_url names unknown instance field(s) privat_ip in "http://{privat_ip}:8080/drain";')
    assert "private_ip" in problem.split(";")[1]
    assert action.bad_option(dict(args, drain_url="http://{private_ip}/drain")) is None


def test_kind_options_that_cannot_work_together_are_named_before_any_call():
    args = {"kind": "virtual_machines", "virtual_machines": None, "extension": {"name": "app", "publisher": "p"},
            "rollback": True, "rollback_extension": None, "plan": None, "instances": None}
    errors = action.target_option_errors(args)
    assert errors == ["kind virtual_machines needs virtual_machines (the names of the VMs in resource_group).",
                      "extension app: missing type, type_handler_version."]
    errors = action.target_option_errors(dict(args, kind="auto", virtual_machines=["a"], extension=None,
                                              plan=[{"instance_ids": ["0"]}]))
    assert errors == ["virtual_machines applies to kind virtual_machines only.",
                      "rollback applies to kind virtual_machines only (the rolling_upgrade role rolls back scale sets).",
                      "plan and instances go together: give both, or neither (the action then reads and plans)."]
