"""The cloud metadata read (cloud_environment is the emulator's URL) is retried like any ARM call.

Every task of a rollout reads /metadata/endpoints before signing in. One throttled, failed or dropped read used to
stop the rollout, after the model was already changed. The image_rollout role through ansible-playbook, real SDK
over HTTPS against the emulator; judged from the emulator's events and state.
"""
from __future__ import annotations

import yaml

from reliability_helpers import NEW_VERSION, fired, image_versions, rollout_play, scenario, upgrade_starts

METADATA = {"method": "GET", "path": "^/metadata/endpoints$"}


def test_throttled_failed_and_dropped_metadata_reads_do_not_stop_a_rollout(fresh_emulator, run_playbook):
    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=2))
    emulator.set_faults([
        # from the second read on (after the model is changed), every read is throttled once, then fails with
        # a 503 once, before it is answered
        {"kind": "throttle", "match": METADATA, "every": 2, "retry_after": 0.2},
        {"kind": "http_error", "status": 503, "match": METADATA, "every": 2, "retry_after": 0.2},
        # and the very first read loses its connection
        {"kind": "drop_connection", "match": METADATA, "count": 1},
    ])
    emulator.clear_events()

    result = run_playbook(yaml.safe_dump(rollout_play()))

    assert result.rc == 0, result.output[-5000:]
    assert set(image_versions(emulator).values()) == {NEW_VERSION}
    assert set(upgrade_starts(emulator).values()) == {1}
    model_writes = [e["seq"] for e in emulator.events("model_write")]
    assert model_writes, "the model was never changed"
    after_model_change = [e for e in fired(emulator, "throttle") + fired(emulator, "http_error")
                          if e["seq"] > model_writes[0]]
    assert {e["kind"] for e in after_model_change} == {"throttle", "http_error"}, after_model_change
    assert len(fired(emulator, "drop_connection")) == 1
