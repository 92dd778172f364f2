"""The filters' documented return shape and the grouped exclusions."""
import yaml

from ansible_collections.vmss.rollout.plugins.filter import batch_exclusions, plan_batches


def test_plan_batches_return_docs_are_whole_sentences():
    contains = yaml.safe_load(plan_batches.RETURN)["_value"]["contains"]
    # phase: only when the instances' apps report phases (App Health custom metrics)
    assert set(contains) == {"number", "zone", "update_domains", "instance_ids", "label", "phase"}
    assert contains["label"]["description"] == ("Text for progress messages, for example C(update domain 1) or "
                                                "C(phase 0, update domain 1).")
    assert contains["zone"]["description"] == "Zone of every instance in the batch, or null."


def summary(instance_id, latest=True, protected=False):
    return {"instance_id": instance_id, "update_domain": int(instance_id) % 5, "zone": None,
            "latest_model_applied": latest, "protected": protected, "provisioning_state": "Succeeded"}


def test_exclusions_grouped_by_reason_name_each_reason_once():
    instances = [summary(str(i)) for i in range(6)] + [summary("6", latest=False, protected=True),
                                                       summary("7", latest=False)]
    grouped = batch_exclusions.batch_exclusions(instances, by_reason=True)
    assert sorted(g["reason"] for g in grouped) == ["already on the latest model", "protected from scale-set actions"]
    by_reason = {g["reason"]: sorted(g["instance_ids"]) for g in grouped}
    assert by_reason["already on the latest model"] == ["0", "1", "2", "3", "4", "5"]
    assert by_reason["protected from scale-set actions"] == ["6"]
    assert len(batch_exclusions.batch_exclusions(instances)) == 7
