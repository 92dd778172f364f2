"""The admin API, the state files and the command line."""
from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from emu_sdk import web_scenario
from vmss_emulator.testing import EmulatorError, EmulatorProcess

DEMO = Path(__file__).resolve().parents[3] / "emulator" / "scenarios" / "demo.yml"


def test_demo_scenario_loads_15_instances_over_5_update_domains(emu):
    emu.load_scenario(DEMO.read_text())
    rows = emu.instances("rg-demo", "web")
    assert len(rows) == 15
    by_ud = {}
    for row in rows:
        by_ud.setdefault(row["update_domain"], []).append(row["instance_id"])
    assert by_ud == {ud: [str(ud), str(ud + 5), str(ud + 10)] for ud in range(5)}
    assert all(row["extension_order"] == ["health", "app-config"] for row in rows)
    assert len({row["ip"] for row in rows}) == 15 and all(row["ip"].startswith("127.") for row in rows)


def test_reset_drops_resources_events_and_counters(web):
    assert web.events()
    web.reset()
    assert web.events() == []
    assert web.requests()["total"] == 0
    with pytest.raises(EmulatorError, match="404"):
        web.instances("rg-demo", "web")


def test_bad_scenario_is_rejected_whole(emu):
    bad = web_scenario()
    bad["scale_sets"].append({"name": "api", "resource_group": "rg-demo", "capacity": "many"})
    with pytest.raises(EmulatorError, match=r"scale_sets\[1\].capacity"):
        emu.load_scenario(bad)
    with pytest.raises(EmulatorError, match="404"):
        emu.instances("rg-demo", "web")  # nothing of it was added
    with pytest.raises(EmulatorError, match="unknown config key 'upgrade_secs'"):
        emu.config(upgrade_secs=1)
    with pytest.raises(EmulatorError, match="non-negative number"):
        emu.config(upgrade_seconds=-1)


def test_events_since_and_type(web):
    first = web.events()
    last_seq = first[-1]["seq"]
    assert [e["seq"] for e in first] == sorted(e["seq"] for e in first)
    assert web.events(since=last_seq) == []
    web.config(scale_set="rg-demo/web", upgrade_seconds=0)
    assert {e["type"] for e in web.events(type="model_write")} == {"model_write"}


def test_state_files_and_env(emulator):
    state = emulator.state_dir
    assert (state / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    env = emulator.env
    assert env["AZURE_CLOUD_ENVIRONMENT"] == emulator.url == env["VMSS_EMULATOR_URL"]
    assert emulator.url.startswith("https://127.0.0.1:")
    assert env["REQUESTS_CA_BUNDLE"] == str(state / "ca.pem")
    for key in ("AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT"):
        assert env[key]
    assert env["AZURE_SECRET"] not in emulator.log_path.read_text()


def test_non_loopback_host_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vmss_emulator", "serve", "--port", "0", "--state-dir",
                           str(tmp_path), "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode != 0
    assert "127.0.0.0/8" in proc.stderr
    assert not (tmp_path / "env.sh").exists()


def test_sigterm_stops_cleanly(tmp_path):
    emu = EmulatorProcess(tmp_path / "emu").start()
    process = emu.process
    emu.stop()
    assert process.returncode == 0
    assert "stopped" in emu.log_path.read_text()


SLOW_LOAD = """
import asyncio, sys
from vmss_emulator import cli, scenario
real_load = scenario.load

async def slow_load(app, data):  # a big scenario: the load takes a while
    await asyncio.sleep(2)
    return await real_load(app, data)

scenario.load = slow_load
sys.exit(cli.main(sys.argv[1:]))
"""


def test_health_answers_only_once_the_scenario_is_loaded(tmp_path):
    (tmp_path / "scenario.yml").write_text(yaml.safe_dump(web_scenario(capacity=3)))
    with socket.socket() as probe:  # a fixed port, to knock before env.sh tells it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = tmp_path / "emu"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_LOAD, "serve", "--port", str(port), "--state-dir", str(state),
                             "--scenario", str(tmp_path / "scenario.yml")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None and time.monotonic() < deadline
            try:
                context = ssl.create_default_context(cafile=str(state / "ca.pem"))
                with urllib.request.urlopen(f"{url}/_emulator/health", context=context, timeout=5) as resp:
                    if resp.status == 200:
                        break
            except (OSError, ssl.SSLError):  # not listening yet (or 503 while loading)
                pass
            time.sleep(0.05)
        with urllib.request.urlopen(f"{url}/_emulator/scale_sets/rg-demo/web/instances", context=context,
                                    timeout=5) as resp:
            assert len(json.load(resp)["instances"]) == 3
        assert (state / "env.sh").exists()
    finally:
        proc.terminate()
        proc.wait(15)


def _status(emu, method, path):
    """(status, Allow header) of one unauthenticated request."""
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    req = urllib.request.Request(f"{emu.url}{path}", method=method)
    try:
        with urllib.request.urlopen(req, context=context, timeout=10) as resp:  # noqa: S310 - the emulator
            return resp.status, resp.headers.get("Allow")
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Allow")


def test_one_route_table_answers_sign_in_and_admin_paths_as_aiohttp_routes_did(emu):
    """HEAD with GET, 405 naming the methods on the admin API, case-sensitive admin and sign-in paths."""
    assert _status(emu, "HEAD", "/metadata/endpoints") == (200, None)
    assert _status(emu, "HEAD", "/_emulator/health") == (200, None)
    assert _status(emu, "POST", "/_emulator/health") == (405, "GET,HEAD")
    assert _status(emu, "PUT", "/_emulator/faults") == (405, "DELETE,GET,HEAD,POST")
    assert _status(emu, "GET", "/_emulator/HEALTH")[0] == 404
    assert _status(emu, "GET", "/metadata/ENDPOINTS")[0] == 404
    assert _status(emu, "GET", "/some-tenant/oauth2/token")[0] == 404
