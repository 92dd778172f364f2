"""vmss_model_image against the emulator: check mode, real run, idempotence, diff, policy, Automatic guard,
and an ARM error. The 412 re-read path is unit-tested (tests/unit/plugins/modules/test_core_modules.py): the
emulator's fault rules inject only 500/503, and a real concurrent edit cannot be timed between our GET and PATCH."""
from __future__ import annotations

from core_helpers import NEW, OLD, RG, by_operation, core_step, run_steps, scale_set, scenario, writes

GALLERY = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-img/providers/Microsoft.Compute/" \
          "galleries/g/images/web/versions/2.0.0"


def test_model_image_lifecycle(fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(scenario(scale_set("web"), scale_set("auto", capacity=2, upgrade_policy="Automatic")))
    steps = [
        core_step("vmss_model_image", check=True, image=NEW),                         # 0 check mode
        core_step("vmss_model_image", image=NEW),                                     # 1 real
        core_step("vmss_model_image", image=dict(NEW, publisher="canonical")),        # 2 identical (case)
        core_step("vmss_model_image", image=NEW, upgrade_policy="Rolling",           # 3 policy only
                  rolling_upgrade_policy={"max_batch_instance_percent": 40, "pause_time_between_batches": "PT1S"}),
        core_step("vmss_model_image", image=NEW, upgrade_policy="Rolling",           # 4 identical again
                  rolling_upgrade_policy={"max_batch_instance_percent": 40}),
        core_step("vmss_model_image", image={"id": GALLERY}, upgrade_policy="Manual"),  # 5 id image + policy, 1 PATCH
        core_step("vmss_model_image", name="auto", image=NEW),                        # 6 Automatic refused
        core_step("vmss_model_image", name="auto", image=NEW, allow_automatic_upgrade=True),  # 7 allowed
        core_step("vmss_info"),                                                       # 8 instances untouched
        core_step("vmss_model_image", name="nope", image=NEW),                        # 9 no such scale set
    ]
    out, res = run_steps(run_playbook, fresh_emulator, steps, tmp_path, diff=True)
    r = [o["result"] for o in out]

    assert r[0]["changed"] is True and r[0]["image"] == NEW and writes(out[0]) == 0
    assert r[1]["changed"] is True and r[1]["previous_image"] == OLD and r[1]["image"] == NEW, r[1].get("msg")
    assert writes(out[1]) == 1 and by_operation(out[1], "VirtualMachineScaleSets_Update") == 1
    assert by_operation(out[1], "VirtualMachineScaleSets_CreateOrUpdate") == 0
    assert r[1]["diff"]["before"]["image"]["version"] == "1.0.0" and r[1]["diff"]["after"]["image"]["version"] == "1.0.1"
    assert r[2]["changed"] is False and writes(out[2]) == 0 and "diff" not in r[2]

    assert r[3]["changed"] is True and writes(out[3]) == 1, r[3].get("msg")
    assert r[3]["upgrade_policy"]["mode"] == "Rolling"
    assert r[3]["upgrade_policy"]["rolling_upgrade_policy"]["max_batch_instance_percent"] == 40
    assert r[4]["changed"] is False and writes(out[4]) == 0

    assert r[5]["changed"] is True and writes(out[5]) == 1, r[5].get("msg")
    assert r[5]["image"] == {"id": GALLERY} and r[5]["previous_image"] == NEW
    assert r[5]["upgrade_policy"]["mode"] == "Manual"

    assert r[6]["failed"] and "Automatic" in r[6]["msg"] and "allow_automatic_upgrade" in r[6]["msg"]
    assert writes(out[6]) == 0
    assert r[7]["changed"] is True and writes(out[7]) == 1, r[7].get("msg")

    # Manual mode: the model changed, the instances did not
    assert r[8]["vmss"]["image"] == {"id": GALLERY}
    assert all(not i["latest_model_applied"] for i in r[8]["instances"])
    assert all(i["image"]["version"] == "1.0.0" for i in r[8]["instances"])

    # an ARM error is one sentence with code, message and request id
    assert r[9]["failed"] and writes(out[9]) == 0
    assert r[9]["msg"].startswith("Could not read scale set %s/nope: ResourceNotFound: " % RG), r[9]["msg"]
    assert "request id" in r[9]["msg"] and r[9]["request_id"] and r[9]["error_code"] == "ResourceNotFound"
    assert "Traceback" not in r[9]["msg"] and "module_stderr" not in r[9]

    # --diff printed the image change
    lines = res.output.splitlines()
    assert any(line.startswith("-") and '"version": "1.0.0"' in line for line in lines), res.output[-2000:]
    assert any(line.startswith("+") and '"version": "1.0.1"' in line for line in lines)
