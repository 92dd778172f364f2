"""The fleet seen through the real SDK: NIC IPs, the per-instance app during upgrades, App Health states in the
instance view, and the load balancer's availability."""
from __future__ import annotations

import ipaddress
import urllib.error
import urllib.request

from azure.core.rest import HttpRequest

from fleet_helpers import (NEW_VERSION, OLD_VERSION, RG, VMSS, app_request, fleet_row, scenario, set_image_version,
                           upgrade, vm_health, wait_for)


def lb_get(frontend):
    try:
        with urllib.request.urlopen(frontend + "/", timeout=5) as answer:  # noqa: S310 - loopback frontend
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def balancer(emulator):
    return emulator.availability()["load_balancers"][f"{RG}/{VMSS}"]


def probe_now(emulator):
    return emulator.admin("POST", f"/_emulator/load_balancers/{RG}/{VMSS}/probe")


def test_network_interfaces_list_every_private_ip_in_pages(fresh_emulator, sdk):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=5, page_size=2))
    base = (f"/subscriptions/{emulator.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{RG}/providers/"
            f"Microsoft.Compute/virtualMachineScaleSets/{VMSS}")
    url, nics, pages = f"{emulator.url}{base}/networkInterfaces?api-version=2018-10-01", [], 0
    while url:
        response = sdk.send_request(HttpRequest("GET", url))
        response.raise_for_status()
        body = response.json()
        nics += body["value"]
        pages += 1
        url = body.get("nextLink")
    assert pages == 3
    by_instance = {nic["properties"]["virtualMachine"]["id"].rsplit("/", 1)[1]:
                   nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] for nic in nics}
    assert sorted(by_instance) == ["0", "1", "2", "3", "4"]
    assert len(set(by_instance.values())) == 5
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("127.0.0.0/8") for ip in by_instance.values())
    assert by_instance == {row["instance_id"]: row["ip"] for row in emulator.instances(RG, VMSS)}

    # one instance's NIC, under the VM, paths in any case
    one = sdk.send_request(HttpRequest(
        "GET", f"{emulator.url}{base.lower()}/virtualmachines/3/networkinterfaces?api-version=2018-10-01"))
    assert one.status_code == 200
    nic = one.json()["value"][0]
    assert nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] == by_instance["3"]
    single = sdk.send_request(HttpRequest("GET", f"{emulator.url}{nic['id']}?api-version=2018-10-01"))
    assert single.json()["id"] == nic["id"]
    vm = sdk.virtual_machine_scale_set_vms.get(RG, VMSS, "3")
    assert vm.network_profile.network_interfaces[0].id == nic["id"]   # the instance's details name this NIC
    missing = sdk.send_request(HttpRequest("GET", f"{emulator.url}{base}/virtualMachines/99/networkInterfaces"))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NotFound")
    assert emulator.requests()["by_operation"]["NetworkInterfaces_ListVirtualMachineScaleSetNetworkInterfaces"] == 3


def test_app_is_down_while_upgrading_and_health_follows_it(fresh_emulator, sdk):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=2, upgrade_seconds=0.6))
    ip = fleet_row(emulator, "0")["ip"]
    wait_for(lambda: vm_health(sdk, "0") == "HealthState/healthy", what="healthy after the grace period")
    status, body = app_request(ip)
    assert status == 200
    assert body["status"] == "Healthy" and body["instanceId"] == "0" and body["imageVersion"] == OLD_VERSION
    assert body["extensions"]["health"]["requestPath"] == "/health"

    set_image_version(sdk, NEW_VERSION)
    poller = upgrade(sdk, "0")
    wait_for(lambda: fleet_row(emulator, "0")["provisioning_state"] == "Updating", what="instance 0 Updating")
    assert app_request(ip) == (None, None)          # connection refused while upgrading
    assert vm_health(sdk, "0") == "HealthState/unknown"
    assert app_request(fleet_row(emulator, "1")["ip"])[0] == 200   # the other instance is untouched
    poller.result()

    assert app_request(ip)[1]["imageVersion"] == NEW_VERSION
    wait_for(lambda: vm_health(sdk, "0") == "HealthState/healthy", what="healthy again")
    changes = [(e["from"], e["to"]) for e in emulator.events("health_change") if e["instance_id"] == "0"]
    assert changes == [(None, "initializing"), ("initializing", "healthy"), ("healthy", "unknown"),
                       ("unknown", "initializing"), ("initializing", "healthy")]


def test_drain_makes_the_app_unhealthy_until_the_next_restart(fresh_emulator, sdk):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=2, grace=0))
    ip = fleet_row(emulator, "1")["ip"]
    assert app_request(ip, method="POST", path="/drain")[0] == 200
    status, body = app_request(ip)
    assert (status, body["status"]) == (503, "Unhealthy")
    assert vm_health(sdk, "1") == "HealthState/unhealthy"
    assert vm_health(sdk, "0") == "HealthState/healthy"

    sdk.virtual_machine_scale_set_vms.begin_restart(RG, VMSS, "1").result()
    assert app_request(ip)[0] == 200
    assert vm_health(sdk, "1") == "HealthState/healthy"


def test_no_health_extension_no_vm_health(fresh_emulator, sdk):
    fresh_emulator.load_scenario(scenario(capacity=1, extensions=[]))
    assert vm_health(sdk, "0") is None
    assert app_request(fleet_row(fresh_emulator, "0")["ip"])[0] == 200   # the app runs anyway


def test_load_balancer_fails_only_requests_sent_to_an_instance_down_before_the_probe(fresh_emulator, sdk):
    emulator = fresh_emulator
    # probes are stepped by hand (a probe interval far longer than the test)
    emulator.load_scenario(scenario(capacity=3, probe_interval=600, upgrade_seconds=1))
    set_image_version(sdk, NEW_VERSION)
    frontend = probe_now(emulator)["frontend"]
    assert balancer(emulator)["in_rotation"] == ["0", "1", "2"]
    emulator.reset_availability()

    poller = upgrade(sdk, "1")
    wait_for(lambda: not fleet_row(emulator, "1")["listening"], what="instance 1 down")
    statuses = [lb_get(frontend) for _index in range(6)]
    assert sorted(statuses) == [200, 200, 200, 200, 502, 502]   # round robin: 2 of 6 went to the dead instance
    probe_now(emulator)                                          # the probe notices
    assert balancer(emulator)["in_rotation"] == ["0", "2"]
    assert [lb_get(frontend) for _index in range(6)] == [200] * 6
    poller.result()
    probe_now(emulator)
    assert balancer(emulator)["in_rotation"] == ["0", "1", "2"]

    lb = balancer(emulator)
    assert (lb["served"], lb["failed"], lb["failed_by_instance"]) == (10, 2, {"1": 2})
    rotation = [(e["instance_id"], e["in_rotation"]) for e in emulator.events("lb_rotation")]
    assert rotation[-2:] == [("1", False), ("1", True)]


def test_drain_before_upgrade_loses_no_request_under_traffic(fresh_emulator, sdk):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=3, probe_interval=0.05, load_balancer={"traffic_rps": 100}))
    wait_for(lambda: balancer(emulator)["in_rotation"] == ["0", "1", "2"], what="all in rotation")
    set_image_version(sdk, NEW_VERSION)
    emulator.reset_availability()

    for instance_id in ("0", "1", "2"):
        assert app_request(fleet_row(emulator, instance_id)["ip"], method="POST", path="/drain")[0] == 200
        wait_for(lambda: instance_id not in balancer(emulator)["in_rotation"], what="the probe took it out")
        upgrade(sdk, instance_id).result()
        wait_for(lambda: instance_id in balancer(emulator)["in_rotation"], what="back in rotation")

    lb = balancer(emulator)
    assert lb["failed"] == 0, lb
    assert lb["served"] > 20
    assert {r["image_version"] for r in emulator.instances(RG, VMSS)} == {NEW_VERSION}


def test_load_balancer_settings_through_the_admin_api(fresh_emulator):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=1))
    changed = emulator.admin("POST", f"/_emulator/load_balancers/{RG}/{VMSS}", {"probe_interval": 0.2, "traffic_rps": 5})
    assert changed["frontend"].startswith("http://127.0.0.1:")
    try:
        emulator.admin("POST", f"/_emulator/load_balancers/{RG}/{VMSS}", {"traffic_rps": -1})
    except Exception as exc:  # noqa: BLE001 - EmulatorError carries the HTTP answer
        assert "400" in str(exc) and "'load_balancer.traffic_rps' must be a number >= 0" in str(exc)
    else:
        raise AssertionError("a negative traffic_rps was accepted")
    wait_for(lambda: balancer(emulator)["served"] >= 3, what="built-in traffic")


def test_bad_app_or_load_balancer_options_refuse_the_scenario(fresh_emulator):
    from vmss_emulator.testing import EmulatorError

    bad = scenario(capacity=1, load_balancer={"probe_interval": "fast"})
    try:
        fresh_emulator.load_scenario(bad)
    except EmulatorError as exc:
        assert "HTTP 400" in str(exc) and "'load_balancer.probe_interval' must be a number" in str(exc)
    else:
        raise AssertionError("a non-numeric probe_interval was accepted")
    assert fresh_emulator.availability()["load_balancers"] == {}


def test_protected_settings_never_reach_the_app_or_fleet_views(fresh_emulator):
    emulator = fresh_emulator
    secret = "fleet-s3cret-value-9731"
    app_extension = {"name": "app", "properties": {
        "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
        "settings": {"release": "1"}, "protectedSettings": {"commandToExecute": f"deploy --token {secret}"}}}
    emulator.load_scenario(scenario(capacity=1, extensions=[app_extension], load_balancer={"traffic_rps": 50}))
    status, body = app_request(fleet_row(emulator, "0")["ip"])
    assert status == 200 and body["extensions"]["app"] == {"release": "1"}
    wait_for(lambda: balancer(emulator)["served"] > 0, what="traffic")
    seen = [str(body), str(emulator.instances(RG, VMSS)), str(emulator.availability()), str(emulator.events())]
    assert not any(secret in text for text in seen)
