"""vmss_instance_http through ansible-playbook against the emulator's per-instance apps."""
from __future__ import annotations

from fleet_helpers import RG, VMSS, app_request, fleet_row, scenario


def instances_of(run_module):
    info = run_module("vmss_info", {"resource_group": RG, "name": VMSS})
    assert info["rc"] == 0, info["output"]
    return info["instances"]


def test_drain_then_check_reports_exactly_the_drained_instance(fresh_emulator, run_module):
    fresh_emulator.load_scenario(scenario(capacity=4, grace=0))
    instances = instances_of(run_module)
    drained = run_module("vmss_instance_http", {
        "instances": [i for i in instances if i["instance_id"] == "1"],
        "url": "http://{private_ip}:8080/drain", "method": "POST", "status_code": [200, 202, 204]})
    assert drained["rc"] == 0, drained["output"]
    assert (drained["changed"], drained["ok_instances"], drained["failed_instances"]) == (True, ["1"], [])
    assert app_request(fleet_row(fresh_emulator, "1")["ip"])[0] == 503

    checked = run_module("vmss_instance_http", {"instances": instances, "url": "http://{private_ip}:8080/health",
                                                "retries": 1, "delay": 0})
    assert checked["failed"] is True
    assert checked["failed_instances"] == ["1"]
    assert checked["ok_instances"] == ["0", "2", "3"]
    assert checked["changed"] is False
    one = [r for r in checked["results"] if r["instance_id"] == "1"][0]
    assert (one["status"], one["attempts"]) == (503, 2)
    assert "1 of 4 instance(s) did not answer 200: 1 (503)" in checked["msg"]

    tolerant = run_module("vmss_instance_http", {"instances": instances, "url": "http://{private_ip}:8080/health",
                                                 "fail_on_error": False})
    assert (tolerant.get("failed", False), tolerant["failed_instances"]) == (False, ["1"])


def test_check_mode_sends_no_drain(fresh_emulator, run_module):
    fresh_emulator.load_scenario(scenario(capacity=2, grace=0))
    instances = instances_of(run_module)
    result = run_module("vmss_instance_http", {"instances": instances, "url": "http://{private_ip}:8080/drain",
                                               "method": "POST"}, check=True)
    assert (result["rc"], result["changed"]) == (0, True)
    assert all(r["msg"] == "would send POST (check mode)" for r in result["results"])
    assert [app_request(fleet_row(fresh_emulator, i)["ip"])[0] for i in ("0", "1")] == [200, 200]


def test_bad_input_fails_with_one_clear_error(fresh_emulator, run_module):
    fresh_emulator.load_scenario(scenario(capacity=1, grace=0))
    bad_template = run_module("vmss_instance_http", {"instances": [{"instance_id": "0"}], "url": "http://{ip:x}/"})
    assert bad_template["failed"] is True
    assert "url 'http://{ip:x}/' is not a valid template" in bad_template["msg"]
    no_id = run_module("vmss_instance_http", {"instances": [{"private_ip": "127.0.0.1"}], "url": "http://{private_ip}/"})
    assert "instances[0] has no instance_id" in no_id["msg"]
    bad_retries = run_module("vmss_instance_http", {"instances": [], "url": "http://x/", "retries": -1})
    assert bad_retries["msg"] == "retries must be at least 0, got -1."
    missing_ip = run_module("vmss_instance_http", {"instances": [{"instance_id": "5", "private_ip": None}],
                                                   "url": "http://{private_ip}/health"})
    assert missing_ip["failed_instances"] == ["5"]
    assert "5 (no value for private_ip)" in missing_ip["msg"]
