"""URL rendering and the concurrent probe runner behind vmss_instance_http (no network)."""
from __future__ import annotations

import threading

import pytest

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import probes


def test_template_fields_lists_plain_placeholders():
    assert probes.template_fields("http://{private_ip}:8080/{instance_id}/health") == ["private_ip", "instance_id"]
    assert probes.template_fields("http://10.0.0.4/health") == []


@pytest.mark.parametrize("url", ["http://{private_ip", "http://{}/x", "http://{ip:>10}/x", "http://{ip!r}/x",
                                 "http://{a.b}/x"])
def test_malformed_templates_are_refused(url):
    with pytest.raises(probes.UrlTemplateError):
        probes.template_fields(url)


def test_placeholders_must_name_instance_summary_fields():
    """A typo'd field renders no URL for any instance (a drain drains nothing): it is named, before any request."""
    assert probes.unknown_fields("http://{private_ip}:8080/health?id={instance_id}&z={zone}") == []
    assert probes.unknown_fields("http://{privat_ip}:8080/drain/{nme}") == ["privat_ip", "nme"]


def test_the_allowed_fields_are_the_instance_summary():
    # the role checks its URLs with rollout_options.option_errors, over this same list: there is no second one
    from ansible_collections.vmss.rollout.plugins.module_utils._vmss import instances
    assert set(probes.INSTANCE_FIELDS) == set(instances.summarize({"instanceId": "0", "properties": {}}))


def test_render_urls_fills_each_instance_and_flags_missing_values():
    instances = [{"instance_id": "0", "private_ip": "127.1.0.4"}, {"instance_id": 7, "private_ip": None},
                 {"instance_id": "9"}]
    assert probes.render_urls("http://{private_ip}:8080/health", instances) == [
        ("0", "http://127.1.0.4:8080/health", []), ("7", None, ["private_ip"]), ("9", None, ["private_ip"])]


def test_probe_until_retries_until_accepted_and_counts_attempts():
    answers = iter([(None, "refused"), (503, "Unavailable"), (200, "OK")])
    slept = []
    result = probes.probe_until(lambda url: next(answers), "http://x/health", {200}, retries=5, delay=2,
                                sleep=slept.append)
    assert result == {"url": "http://x/health", "status": 200, "ok": True, "attempts": 3, "msg": "OK"}
    assert slept == [2, 2]


def test_probe_until_gives_up_after_retries():
    calls = []

    def send(url):
        calls.append(url)
        return 503, "Unavailable"
    result = probes.probe_until(send, "http://x", {200}, retries=2, delay=0, sleep=lambda s: None)
    assert (result["ok"], result["status"], result["attempts"], len(calls)) == (False, 503, 3, 3)


def test_probe_all_runs_concurrently_and_keeps_input_order():
    barrier = threading.Barrier(4, timeout=5)   # would time out unless four sends are in flight together

    def send(url):
        barrier.wait()
        return (200, "OK") if not url.endswith("/3") else (500, "boom")
    rendered = [(str(i), "http://x/%d" % i, []) for i in range(4)] + [("4", None, ["private_ip"])]
    results = probes.probe_all(send, rendered, {200}, retries=0, delay=0, concurrency=8)
    assert [r["instance_id"] for r in results] == ["0", "1", "2", "3", "4"]
    assert [r["ok"] for r in results] == [True, True, True, False, False]
    assert results[4] == {"instance_id": "4", "url": None, "status": None, "ok": False, "attempts": 0,
                          "msg": "no value for private_ip"}
    assert probes.probe_all(send, [], {200}, 0, 0, 8) == []
