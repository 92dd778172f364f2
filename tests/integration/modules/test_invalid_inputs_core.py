"""Bad input to the core modules: one clear message naming the option, and zero ARM writes."""
from __future__ import annotations

import pytest

from core_helpers import NEW, core_step, run_steps, scale_set, scenario, writes

CASES = [
    # (id, module, args, words the message must contain)
    ("image missing version", "vmss_model_image", {"image": {"publisher": "a", "offer": "b", "sku": "c"}},
     ["image", "missing: version"]),
    ("image two kinds", "vmss_model_image", {"image": dict(NEW, id="/subscriptions/x")}, ["image", "not both"]),
    ("image bad id", "vmss_model_image", {"image": {"id": "web-image"}}, ["image.id", "/subscriptions/"]),
    ("image unknown key", "vmss_model_image", {"image": dict(NEW, colour="blue")}, ["image", "colour"]),
    ("upgrade_policy choice", "vmss_model_image", {"image": NEW, "upgrade_policy": "Sometimes"},
     ["upgrade_policy", "Automatic, Manual, Rolling"]),
    ("rolling percent range", "vmss_model_image",
     {"image": NEW, "rolling_upgrade_policy": {"max_batch_instance_percent": 500}},
     ["rolling_upgrade_policy.max_batch_instance_percent", "between 5 and 100"]),
    ("cloud name", "vmss_model_image", {"image": NEW, "cloud_environment": "AzureMoon"},
     ["cloud_environment", "AzureCloud"]),
    ("auth_source choice", "vmss_info", {"auth_source": "magic"}, ["auth_source", "credential_file"]),
    ("ca_bundle missing", "vmss_info", {"ca_bundle": "/nonexistent/ca.pem"}, ["ca_bundle", "does not exist"]),
    ("tenant malformed", "vmss_instance_upgrade", {"tenant": "not a tenant!"},
     ["tenant 'not a tenant!' is not allowed", "AZURE_TENANT"]),
    ("name required", "vmss_info", {"name": None}, ["name"]),
    ("instance id text", "vmss_instance_upgrade", {"instance_ids": ["web_1"]}, ["instance_ids", "'web_1'"]),
    ("instance id unknown", "vmss_instance_upgrade", {"instance_ids": ["99"]}, ["instance_ids 99 do not exist"]),
    ("update domain unknown", "vmss_instance_upgrade", {"update_domains": [0, 99]},
     ["update_domains 99 match no instance", "its update domains: 0, 1"]),
    ("update domain negative", "vmss_instance_upgrade", {"update_domains": [-1]}, ["update_domains"]),
    ("ids and domains", "vmss_instance_upgrade", {"instance_ids": ["0"], "update_domains": [0]},
     ["mutually exclusive", "instance_ids", "update_domains"]),
    ("strategy choice", "vmss_instance_upgrade", {"strategy": "yolo"}, ["strategy", "manual, platform"]),
    ("platform with ids", "vmss_instance_upgrade", {"strategy": "platform", "instance_ids": ["0"]},
     ["instance_ids", "strategy: platform"]),
    ("wait_timeout zero", "vmss_instance_upgrade", {"wait_timeout": 0}, ["wait_timeout must be a positive"]),
    ("poll_interval zero", "vmss_info", {"poll_interval": 0}, ["poll_interval must be a positive"]),
]


@pytest.fixture
def outcomes(fresh_emulator, run_playbook, tmp_path_factory):
    fresh_emulator.load_scenario(scenario(scale_set("web", capacity=2)))
    steps = []
    for _case_id, module, args, _words in CASES:
        args = dict(args)
        step = core_step(module, **args)
        if args.get("name", "") is None:
            step["args"].pop("name")
        steps.append(step)
    # the model is outdated, so a valid upgrade would write: the failures above must not
    steps.insert(0, core_step("vmss_model_image", image=NEW))
    out, _playbook = run_steps(run_playbook, fresh_emulator, steps, tmp_path_factory.mktemp("invalid"))
    return out[1:]


def test_invalid_inputs(outcomes):
    problems = []
    for (case_id, _module, _args, words), entry in zip(CASES, outcomes):
        result = entry["result"]
        msg = result.get("msg", "")
        if not result.get("failed"):
            problems.append("%s: did not fail" % case_id)
        elif not all(w in msg for w in words):
            problems.append("%s: message %r lacks %r" % (case_id, msg, words))
        elif "Traceback" in msg or "module_stderr" in result or "\n" in msg.strip():
            problems.append("%s: not one clear line: %r" % (case_id, msg))
        if writes(entry) != 0:
            problems.append("%s: %d ARM writes" % (case_id, writes(entry)))
    assert not problems, "\n".join(problems)
