"""The fleet's data plane in one process, with real sockets: the app, App Health states and the load balancer.

Probes are driven by hand (a very long probe interval) so each step is deterministic.
"""
from __future__ import annotations

import asyncio
import json
import socket

from vmss_emulator.events import EventLog
from vmss_emulator.fleet import EmulatorFleet
from vmss_emulator.fleet.balancer import http_get_status
from vmss_emulator.state import Instance, ScaleSet, Settings

HEALTH_EXT = {"name": "health", "properties": {"type": "ApplicationHealthLinux", "settings": {"port": 8080}}}
PROFILE = {"storageProfile": {"imageReference": {"version": "1.0.0"}},
           "extensionProfile": {"extensions": [HEALTH_EXT]}}


async def http(ip, port, method="GET", path="/"):
    reader, writer = await asyncio.open_connection(ip, port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    head, _sep, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def fleet_with(count, grace=0.0, lb=None):
    events = EventLog()
    settings = Settings(health_grace_seconds=grace, probe_interval=3600)
    fleet = EmulatorFleet(events, lambda: settings)
    ss = ScaleSet("sub", "rg", "web", "westeurope", {"capacity": count}, [], {"virtualMachineProfile": PROFILE},
                  app={"port": 8080}, load_balancer=lb or {})
    for i in range(count):
        inst = Instance(str(i), i % 5, i % 5, None, PROFILE)
        inst.private_ip = fleet.allocate_ip(ss, inst)
        ss.instances[inst.instance_id] = inst
    await fleet.scale_set_created(ss)
    for inst in ss.instances.values():
        await fleet.instance_started(ss, inst)
    return fleet, ss, events


def test_app_answers_health_drain_and_refuses_while_stopped():
    async def scenario():
        fleet, ss, events = await fleet_with(2)
        try:
            a, b = ss.instances["0"], ss.instances["1"]
            assert a.private_ip != b.private_ip and a.private_ip.startswith("127.")
            status, body = await http(a.private_ip, 8080, path="/health")
            assert status == 200
            assert body["status"] == "Healthy" and body["instanceId"] == "0" and body["imageVersion"] == "1.0.0"
            assert body["extensions"] == {"health": {"port": 8080}}

            assert (await http(a.private_ip, 8080, "POST", "/drain"))[0] == 200
            status, body = await http(a.private_ip, 8080, path="/health")
            assert (status, body["status"]) == (503, "Unhealthy")
            assert (await http(b.private_ip, 8080, path="/health"))[0] == 200

            await fleet.instance_stopped(ss, a)
            with socket.socket() as probe:
                assert probe.connect_ex((a.private_ip, 8080)) != 0   # refused: nothing listens
            await fleet.instance_started(ss, a)
            assert (await http(a.private_ip, 8080, path="/health"))[0] == 200   # a restart ends the drain
        finally:
            await fleet.stop()

    asyncio.run(scenario())


def test_health_states_follow_the_app_and_are_recorded_as_events():
    async def scenario():
        fleet, ss, events = await fleet_with(1, grace=0.2)
        try:
            inst = ss.instances["0"]
            assert fleet.health_state(ss, inst) == "initializing"
            await asyncio.sleep(0.3)
            assert fleet.health_state(ss, inst) == "healthy"
            await http(inst.private_ip, 8080, "POST", "/drain")
            assert fleet.health_state(ss, inst) == "unhealthy"
            await fleet.instance_stopped(ss, inst)
            assert fleet.health_state(ss, inst) == "unknown"
            changes = [(e["from"], e["to"]) for e in events.list("health_change")]
            assert changes == [(None, "initializing"), ("initializing", "healthy"), ("healthy", "unhealthy"),
                               ("unhealthy", "unknown")]
            # the grace timer, not a read, recorded initializing -> healthy on time
            assert events.list("health_change")[1]["time"] - events.list("health_change")[0]["time"] < 0.29
        finally:
            await fleet.stop()

    asyncio.run(scenario())


def test_no_health_extension_means_no_health_state():
    async def scenario():
        fleet, ss, events = await fleet_with(1)
        try:
            inst = ss.instances["0"]
            inst.applied_model = {"storageProfile": {}}
            assert fleet.health_state(ss, inst) is None
        finally:
            await fleet.stop()

    asyncio.run(scenario())


def test_load_balancer_fails_only_requests_sent_to_an_instance_gone_before_the_probe_noticed():
    async def scenario():
        fleet, ss, events = await fleet_with(3)
        lb = fleet.balancer(ss)
        try:
            await lb.probe_once()
            assert sorted(lb.in_rotation) == ["0", "1", "2"]
            for _index in range(6):
                assert await http_get_status("127.0.0.1", lb.port, "/", 2) == 200
            assert (lb.served, lb.failed) == (6, 0)

            await fleet.instance_stopped(ss, ss.instances["1"])   # goes down; the probe has not noticed yet
            statuses = [await http_get_status("127.0.0.1", lb.port, "/", 2) for _index in range(6)]
            assert statuses.count(502) == 2   # round robin sent two of six to the dead instance
            assert dict(lb.failed_by_instance) == {"1": 2}

            await lb.probe_once()   # now it knows
            assert sorted(lb.in_rotation) == ["0", "2"]
            for _index in range(6):
                assert await http_get_status("127.0.0.1", lb.port, "/", 2) == 200
            assert (lb.served, lb.failed) == (16, 2)
            rotation = [(e["instance_id"], e["in_rotation"]) for e in events.list("lb_rotation")]
            assert rotation[-1] == ("1", False)
        finally:
            await fleet.stop()

    asyncio.run(scenario())


def test_draining_before_stopping_loses_no_request():
    async def scenario():
        fleet, ss, events = await fleet_with(3)
        lb = fleet.balancer(ss)
        try:
            await lb.probe_once()
            target = ss.instances["2"]
            await http(target.private_ip, 8080, "POST", "/drain")
            # a drained app still serves its in-flight traffic; only its health answer changed
            statuses = [await http_get_status("127.0.0.1", lb.port, "/", 2) for _index in range(3)]
            assert statuses == [200, 200, 200]
            await lb.probe_once()
            assert "2" not in lb.in_rotation
            await fleet.instance_stopped(ss, target)
            statuses = [await http_get_status("127.0.0.1", lb.port, "/", 2) for _index in range(8)]
            assert statuses == [200] * 8
            assert lb.failed == 0
        finally:
            await fleet.stop()

    asyncio.run(scenario())


def test_address_pool_skips_addresses_already_in_use():
    from vmss_emulator.fleet.addresses import AddressPool

    pool = AddressPool(second_octet=77)
    with socket.socket() as squatter:   # someone else already listens on the first candidate
        squatter.bind(("127.77.0.1", 0))   # a free port, so other emulators on this machine cannot interfere
        squatter.listen()
        port = squatter.getsockname()[1]
        ip, sock = pool.allocate(port)
        try:
            assert ip == "127.77.0.2"
            other_ip, other_sock = pool.allocate(port)
            other_sock.close()
            assert other_ip == "127.77.0.3"
        finally:
            sock.close()


def test_second_octet_is_random_per_pool_and_avoids_127_0_and_127_1():
    import random

    from vmss_emulator.fleet.addresses import AddressPool

    octets = {AddressPool(rng=random.Random(seed)).second_octet for seed in range(20)}
    assert len(octets) > 10 and all(2 <= o <= 254 for o in octets)


def test_a_probe_that_times_out_once_keeps_the_instance_in_rotation():
    """On a busy machine a probe round can time out everywhere at once; only a second timeout in a row counts."""
    from vmss_emulator.fleet.balancer import Backend, LoadBalancer

    async def scenario():
        answering = {"on": True}

        async def app(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            if answering["on"]:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                writer.close()
            else:
                await asyncio.sleep(5)   # accepted, never answered: the probe times out

        server = await asyncio.start_server(app, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        changes = []
        lb = LoadBalancer("rg/web", lambda: [Backend("0", "127.0.0.1", port)], lambda: 0.1,
                          lambda instance_id, healthy: changes.append((instance_id, healthy)))
        try:
            await lb.probe_once()
            assert list(lb.in_rotation) == ["0"]
            answering["on"] = False
            await lb.probe_once()
            assert list(lb.in_rotation) == ["0"], "one timeout is not a verdict"
            await lb.probe_once()
            assert lb.in_rotation == {}, "two timeouts in a row take it out"
            assert changes == [("0", True), ("0", False)]
        finally:
            server.close()

    asyncio.run(scenario())
