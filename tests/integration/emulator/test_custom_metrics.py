"""App Health rich states with custom metrics: what an instance's app is told to report reaches the instance view
(the App Health extension's substatuses, read through the real SDK) and the app's own /health answer."""
from __future__ import annotations

import json
import ssl
import urllib.request

import pytest
from emu_sdk import web_scenario
from vmss_emulator.testing import EmulatorError

METRICS_PATH = "/_emulator/scale_sets/rg-demo/web/instances/{}/custom_metrics"


def _health_substatuses(compute, instance_id):
    view = compute.virtual_machine_scale_set_vms.get_instance_view("rg-demo", "web", instance_id)
    health = [e for e in view.extensions if e.name == "health"][0]
    return {s.code: s.message for s in (health.substatuses or [])}


def _app_health(emu, instance_id):
    row = [i for i in emu.instances("rg-demo", "web") if i["instance_id"] == instance_id][0]
    url = "http://%s:%s/health" % (row["ip"], row["app_port"])
    with urllib.request.urlopen(url, timeout=5, context=ssl.create_default_context()) as response:
        return json.loads(response.read())


def test_custom_metrics_reach_the_instance_view_and_the_app(emu, compute):
    emu.load_scenario(web_scenario(capacity=3))
    assert "ComponentStatus/CustomMetrics/succeeded" not in _health_substatuses(compute, "1")
    assert "customMetrics" not in _app_health(emu, "1")

    metrics = {"rollingUpgrade": {"PhaseOrderingNumber": 2, "SkipUpgrade": True}}
    answer = emu.admin("POST", METRICS_PATH.format("1"), metrics)
    assert answer["custom_metrics"] == metrics

    subs = _health_substatuses(compute, "1")
    assert "ComponentStatus/ApplicationHealthState/healthy" in subs
    assert json.loads(subs["ComponentStatus/CustomMetrics/succeeded"]) == metrics
    assert json.loads(_app_health(emu, "1")["customMetrics"]) == metrics   # a JSON string, as Azure expects
    # the others report nothing
    assert "ComponentStatus/CustomMetrics/succeeded" not in _health_substatuses(compute, "0")
    events = emu.events("custom_metrics")
    assert [(e["instance_id"], e["custom_metrics"]) for e in events] == [("1", metrics)]

    emu.admin("POST", METRICS_PATH.format("1"), {})
    assert "ComponentStatus/CustomMetrics/succeeded" not in _health_substatuses(compute, "1")


@pytest.mark.parametrize("body, words", [
    ({"rollingUpgrade": {"PhaseOrderingNumber": -1}}, "PhaseOrderingNumber must be a non-negative integer"),
    ({"rollingUpgrade": {"PhaseOrderingNumber": True}}, "PhaseOrderingNumber must be a non-negative integer"),
    ({"rollingUpgrade": {"SkipUpgrade": "yes"}}, "SkipUpgrade must be true or false"),
    ({"rollingUpgrade": {"Phase": 1}}, "rollingUpgrade.Phase is not known"),
])
def test_bad_custom_metrics_are_refused_and_nothing_changes(emu, body, words):
    emu.load_scenario(web_scenario(capacity=2))
    with pytest.raises(EmulatorError) as err:
        emu.admin("POST", METRICS_PATH.format("0"), body)
    assert words in str(err.value)
    assert [i["custom_metrics"] for i in emu.instances("rg-demo", "web")] == [None, None]
    with pytest.raises(EmulatorError) as err:
        emu.admin("POST", METRICS_PATH.format("9"), {})
    assert "instance '9'" in str(err.value)
