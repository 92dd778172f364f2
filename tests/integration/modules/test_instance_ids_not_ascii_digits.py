"""vmss_instance_upgrade: instance ids that look like digits to Python but are not ASCII digits."""
from __future__ import annotations

from core_helpers import NEW, core_step, run_steps, scale_set, scenario, writes

# '³'.isdigit() is True but int('³') raises: the module used to fail with "invalid literal for int()"
NOT_ASCII_DIGITS = ["³", "١", "1²"]


def test_non_ascii_digit_instance_id_is_one_clear_error_and_nothing_is_written(
        fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(scenario(scale_set("web", capacity=2)))
    # the model is outdated first, so an upgrade that went ahead would write
    steps = [core_step("vmss_model_image", image=NEW)]
    steps += [core_step("vmss_instance_upgrade", instance_ids=[instance_id]) for instance_id in NOT_ASCII_DIGITS]
    out, _playbook = run_steps(run_playbook, fresh_emulator, steps, tmp_path)

    assert out[0]["result"].get("changed") is True, out[0]
    for instance_id, entry in zip(NOT_ASCII_DIGITS, out[1:]):
        result = entry["result"]
        msg = result.get("msg", "")
        assert result.get("failed") is True, result
        assert msg.startswith("instance_ids must be a non-empty list of instance ids"), msg
        assert repr(instance_id) in msg and "invalid literal" not in msg and "\n" not in msg.strip(), msg
        assert "module_stderr" not in result, result
        assert writes(entry) == 0
