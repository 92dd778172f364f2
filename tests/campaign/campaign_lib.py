"""The fault campaign: seeded random plans that combine faults, a concurrent edit, a killed controller and every
kind of rollout on ONE rollout, and invariants judged only from the emulator (events, request counters, fleet
view), a real SDK read of the model, and the play's exit status and printed/saved result.

A plan is a pure function of its seed (``make_plan``), so any failure replays with ``tools/campaign.py --seed N``.
``run_plan`` executes one against a running emulator (``vmss_emulator.testing.EmulatorProcess``) and returns a
``Report``: the plan, every invariant checked, and the failed ones with what the events show.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# one SDK client, wait_for and processes_mentioning for the reliability suite and the campaign (tools/campaign.py
# imports this module outside pytest, so the path is put here)
sys.path.insert(0, str(REPO / "tests" / "reliability"))
from reliability_helpers import processes_mentioning, sdk_client, wait_for  # noqa: E402  pylint: disable=wrong-import-position
BIN = Path(sys.executable).parent
RG = "rg-camp"
VMSS = "camp"
OLD, NEW = "1.0.0", "2.0.0"
APP_PORT = 8080
FAST = {"upgrade_seconds": 0.3, "lro_retry_after": 0.2, "health_grace_seconds": 0.2, "probe_interval": 0.1}
# long enough for the controller to be killed while a batch is upgrading
KILL_UPGRADE_SECONDS = 1.0
HANG_WAIT_TIMEOUT = 4
COLLEAGUE_TAG = ("owner", "colleague")
FAULT_KINDS = ("upgrade_fails", "upgrade_hangs", "unhealthy_after_upgrade", "throttle", "http_error",
               "drop_connection", "token_lifetime")
EDIT_KINDS = ("tags", "extension_added", "extension_changed", "ours_changed_back")


def image(version: str) -> dict:
    return {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": version}


HEALTH_EXTENSION = {"name": "health", "properties": {
    "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "2.0",
    "settings": {"protocol": "http", "port": APP_PORT, "requestPath": "/health"}}}
# ours: the application, changed by the extension rollouts (release v1 -> v2)
APP_EXTENSION = {"name": "app", "properties": {
    "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
    "settings": {"release": "v1", "commandToExecute": "deploy v1"}, "provisionAfterExtensions": ["health"]}}
# someone else's: a logging agent the rollout never names
LOGGING_EXTENSION = {"name": "logging", "properties": {
    "publisher": "Contoso.Monitoring", "type": "LogAgent", "typeHandlerVersion": "1.0",
    "settings": {"level": "info"}}}


def our_extensions(release: str) -> list[dict]:
    """extension_rollout's input: health and app (logging is not ours, so not listed; exclusive stays false)."""
    health = HEALTH_EXTENSION["properties"]
    app = APP_EXTENSION["properties"]
    return [
        {"name": "health", "publisher": health["publisher"], "type": health["type"],
         "type_handler_version": health["typeHandlerVersion"], "settings": health["settings"]},
        {"name": "app", "publisher": app["publisher"], "type": app["type"],
         "type_handler_version": app["typeHandlerVersion"], "provision_after": ["health"],
         "settings": {"release": release, "commandToExecute": "deploy %s" % release}},
    ]


# --------------------------------------------------------------------------------------------------- plans

def make_plan(seed: int) -> dict:
    """A random but replayable plan: everything is drawn from random.Random(seed)."""
    rnd = random.Random(seed)
    kind = rnd.choice(["image", "extension"])
    zonal = rnd.random() < 0.3
    capacity = rnd.randint(4, 6) if zonal else rnd.randint(3, 6)
    ids = [str(i) for i in range(capacity)]
    batch = rnd.choice(["update_domain", 2, [1, "50%"]] + ([[1, "50%"]] if zonal else []))
    plan = {
        "seed": seed, "kind": kind, "capacity": capacity, "zones": ["1", "2"] if zonal else None, "batch": batch,
        "rollback": rnd.random() < 0.55, "drain": rnd.random() < 0.3, "http_check": rnd.random() < 0.6,
        "health_tasks": None, "max_unhealthy_upgraded_percent": rnd.choice([20, 34, 50]),
        "max_unhealthy_percent": 20 if rnd.random() < 0.7 else 50,
        "faults": [], "edit": None, "kill": None, "wait_timeout": 60,
    }
    if rnd.random() < 0.35:
        plan["health_tasks"] = {"fail_at_batch": rnd.choice([None, 1, 2])}
    chosen = rnd.sample(FAULT_KINDS, rnd.choice([1, 2, 2, 3]))
    for fault in chosen:
        plan["faults"].append(_fault(rnd, fault, kind, ids))
    if any(f["kind"] == "upgrade_hangs" for f in plan["faults"]):
        plan["wait_timeout"] = HANG_WAIT_TIMEOUT
    if rnd.random() < 0.6:
        plan["edit"] = {"kind": rnd.choice(EDIT_KINDS), "at_batch": rnd.choice([1, 2])}
    # a killed run and its rerun: not with a hang (the rerun would wait for it for good), a colleague changing our
    # setting back (the rerun re-applies ours, as asked) or a failing health task (it would fail in both runs)
    if rnd.random() < 0.35 and "upgrade_hangs" not in chosen \
            and (plan["edit"] or {}).get("kind") != "ours_changed_back" \
            and not (plan["health_tasks"] or {}).get("fail_at_batch"):
        plan["kill"] = {"at_batch": rnd.choice([1, 2])}
    return plan


SICK_ON_NEW_IMAGE = {"kind": "unhealthy_after_upgrade", "image_version": NEW}
SICK_ON_NEW_RELEASE = {"kind": "unhealthy_after_upgrade",
                       "extension_setting": {"extension": "app", "name": "release", "value": "v2"}}


def machine_fault(rnd: random.Random, fault: str, ids: list[str], sick_on_new: dict) -> dict | None:
    """The fault rules every kind of target draws alike (upgrade_fails, upgrade_hangs, unhealthy_after_upgrade on
    some instances or on ``sick_on_new``, throttle, token_lifetime); None for the others."""
    if fault == "upgrade_fails":
        rule = {"kind": "upgrade_fails", "instance_ids": [rnd.choice(ids)]}
        if rnd.random() < 0.5:
            rule["count"] = 1
        return rule
    if fault == "upgrade_hangs":
        return {"kind": "upgrade_hangs", "instance_ids": [rnd.choice(ids)], "count": 1}
    if fault == "unhealthy_after_upgrade":
        if rnd.choice(["target", "target", "instances"]) == "instances":
            return {"kind": "unhealthy_after_upgrade", "instance_ids": rnd.sample(ids, rnd.randint(1, 2))}
        return dict(sick_on_new)
    if fault == "throttle":
        return {"kind": "throttle", "match": {"method": "GET"}, "every": rnd.randint(4, 8), "retry_after": 0.2}
    if fault == "token_lifetime":
        return {"kind": "token_lifetime", "seconds": rnd.choice([1, 2])}
    return None


def _fault(rnd: random.Random, fault: str, kind: str, ids: list[str]) -> dict:
    """One emulator fault rule (plus "at_batch": added when that batch starts, 0 = before the play)."""
    rule = machine_fault(rnd, fault, ids, SICK_ON_NEW_IMAGE if kind == "image" else SICK_ON_NEW_RELEASE)
    if rule is None and fault == "http_error":
        rule = rnd.choice([
            {"kind": "http_error", "status": 503, "match": {"method": "POST", "path": "manualupgrade"},
             "count": rnd.randint(1, 2), "retry_after": 0.2},
            {"kind": "http_error", "status": 500, "match": {"method": "GET", "path": "operations"}, "every": 3},
            {"kind": "http_error", "status": 503, "match": {"method": "PATCH"}, "count": 1, "retry_after": 0.2},
            {"kind": "http_error", "status": 503, "match": {"path": "metadata/endpoints"}, "count": 1,
             "retry_after": 0.2},
        ])
    elif rule is None:   # drop_connection
        rule = rnd.choice([
            {"kind": "drop_connection", "match": {"operation": "VirtualMachineScaleSetVMs_List"}, "count": 1},
            {"kind": "drop_connection", "match": {"method": "POST", "path": "manualupgrade"}, "count": 1},
            {"kind": "drop_connection", "match": {"path": "metadata/endpoints"}, "count": 1},
        ])
    # request faults may arm mid-rollout (after the model write), upgrade faults are there from the start; a
    # metadata fault at the start would only stop the play before it writes anything
    if "metadata" in json.dumps(rule.get("match", {})):
        rule["at_batch"] = rnd.choice([1, 2])
    else:
        rule["at_batch"] = rnd.choice([0, 1, 2]) if fault in ("throttle", "http_error", "drop_connection") else 0
    return rule


def plan_covers(plans: list[dict]) -> dict:
    """What a list of plans exercises (the fixed seed set must cover every fault and rollout kind)."""
    covered: dict[str, set] = {"faults": set(), "kinds": set(), "edits": set(), "features": set()}
    for plan in plans:
        covered["faults"].update(f["kind"] for f in plan["faults"])
        covered["kinds"].add(plan["kind"])
        if plan["edit"]:
            covered["edits"].add(plan["edit"]["kind"])
        for feature, on in (("zonal", plan["zones"]), ("ramp", isinstance(plan["batch"], list)),
                            ("rollback", plan["rollback"]), ("no_rollback", not plan["rollback"]),
                            ("drain", plan["drain"]), ("health_tasks", plan["health_tasks"]),
                            ("kill", plan["kill"]), ("http_check", plan["http_check"])):
            if on:
                covered["features"].add(feature)
    return {key: sorted(value) for key, value in covered.items()}


# --------------------------------------------------------------------------------------------- execution

def scenario(plan: dict) -> dict:
    config = dict(FAST)
    if plan["kill"]:
        config["upgrade_seconds"] = KILL_UPGRADE_SECONDS
    vmss = {"name": VMSS, "resource_group": RG, "capacity": plan["capacity"], "upgrade_policy": "Manual",
            "image": image(OLD), "extensions": [HEALTH_EXTENSION, APP_EXTENSION, LOGGING_EXTENSION],
            "app": {"port": APP_PORT}}
    if plan["zones"]:
        vmss["zones"] = plan["zones"]
    return {"config": config, "resource_groups": [{"name": RG, "location": "westeurope"}], "scale_sets": [vmss]}


def playbook(plan: dict, health_tasks_file: Path | None) -> list:
    role = "image_rollout" if plan["kind"] == "image" else "extension_rollout"
    # a count or a ramp batches across update domains, as the plans mean (multi-instance batches in a tiny set)
    engine = {"batch": plan["batch"], "batch_across_update_domains": plan["batch"] != "update_domain",
              "rollback": plan["rollback"], "drain": plan["drain"],
              "drain_seconds": 0, "http_check": plan["http_check"], "http_retries": 2, "http_delay": 1,
              "health_timeout": 20, "wait_timeout": plan["wait_timeout"], "poll_interval": 1,
              "show_heatmap": False, "max_unhealthy_percent": plan["max_unhealthy_percent"],
              "max_unhealthy_upgraded_percent": plan["max_unhealthy_upgraded_percent"]}
    if health_tasks_file is not None:
        engine["health_tasks"] = str(health_tasks_file)
    role_vars = {f"{role}_resource_group": RG, f"{role}_name": VMSS}
    if plan["kind"] == "image":
        role_vars["image_rollout_image"] = image(NEW)
    else:
        role_vars["extension_rollout_extensions"] = our_extensions("v2")
    role_vars.update({f"{role}_{key}": value for key, value in engine.items()})
    tasks = [{"name": "Roll out", "ansible.builtin.include_role": {"name": f"vmss.rollout.{role}"},
              "vars": role_vars}]
    # the result is printed (debug runs on the controller; a copy task would start a module: seconds per plan)
    return [{"name": "Campaign rollout", "hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "Roll out and keep the result", "block": tasks, "always": [{
            "name": RESULT_TASK, "ansible.builtin.debug": {"msg": "{{ rolling_upgrade_result | default({}) }}"}}]}]}]


RESULT_TASK = "Print rolling_upgrade_result"


def printed_result(output: str) -> dict | None:
    """rolling_upgrade_result as the play printed it (the debug task after the rollout), or None."""
    marker = "TASK [%s]" % RESULT_TASK
    if marker not in output:
        return None
    tail = output.split(marker, 1)[1]
    start = tail.find("=> {")
    if start < 0:
        return None
    try:
        return json.JSONDecoder().raw_decode(tail[start + 3:])[0].get("msg") or None
    except ValueError:
        return None


def health_tasks(plan: dict, record: Path) -> list:
    """The user's health task file: records each batch it saw, and fails after batch N if the plan says so."""
    tasks = [
        {"name": "Count the batches seen", "ansible.builtin.set_fact": {
            "campaign_batches_seen": "{{ campaign_batches_seen | default(0) | int + 1 }}"}},
        {"name": "Record the batch", "ansible.builtin.lineinfile": {
            "path": str(record), "create": True,
            "line": "{{ rolling_upgrade_batch_outcome | map(attribute='instance_id') | join(',') }}"}},
    ]
    fail_at = plan["health_tasks"]["fail_at_batch"]
    if fail_at:
        tasks.append({"name": "Smoke test", "ansible.builtin.fail": {"msg": "smoke test failed"},
                      "when": "campaign_batches_seen | int == %d" % fail_at})
    return tasks


def ansible_environment(emulator, workdir: Path) -> dict:
    """ansible-playbook's environment: the emulator's credentials and quiet, hermetic Ansible settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ANSIBLE_"))}
    env.update(emulator.env)
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".tmp" / "collections"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-local"), "ANSIBLE_REMOTE_TEMP": str(workdir / "ansible-remote"),
        "HOME": str(workdir / "home"),
    })
    (workdir / "home").mkdir(parents=True, exist_ok=True)
    if os.environ.get("CAMPAIGN_TASK_TIMES"):   # tools/campaign.py --task-times: where a plan's time goes
        env.update({"ANSIBLE_CALLBACK_PLUGINS": str(REPO / "benchmarks" / "callbacks"),
                    "ANSIBLE_CALLBACKS_ENABLED": "task_times", "BENCH_TASK_TIMES": str(workdir / "task_times.jsonl")})
    return env


def ensure_collection_link() -> None:
    link = REPO / ".tmp" / "collections" / "ansible_collections" / "vmss" / "rollout"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(Path("../../../.."))


def fleet(emulator) -> list[dict]:
    return emulator.instances(RG, VMSS)


def forward_lro_count(emulator) -> int:
    return len([e for e in emulator.events("lro_start") if e.get("operation") == UPGRADE_OPERATION])


UPGRADE_OPERATION = "VirtualMachineScaleSets_UpdateInstances"


class Colleague:
    """Someone else editing the scale set through the SDK while a batch runs (retrying while the set is busy)."""

    def __init__(self, plan: dict, sdk):
        self.plan = plan
        self.sdk = sdk
        self.edit = plan["edit"]
        self.done: dict | None = None
        self.error: str | None = None
        self.stop = threading.Event()   # set when the play is over: a colleague stops retrying then

    def apply(self) -> None:
        from azure.core.exceptions import HttpResponseError
        from azure.mgmt.compute import models

        kind = self.edit["kind"]
        deadline = time.monotonic() + 300
        while True:
            try:
                if kind == "tags":
                    answer = self.sdk.virtual_machine_scale_sets.begin_update(
                        RG, VMSS, models.VirtualMachineScaleSetUpdate(
                            tags={COLLEAGUE_TAG[0]: COLLEAGUE_TAG[1]})).result()
                elif kind == "extension_added":
                    answer = self.sdk.virtual_machine_scale_set_extensions.begin_create_or_update(
                        RG, VMSS, "monitor", models.VirtualMachineScaleSetExtension(
                            properties=models.VirtualMachineScaleSetExtensionProperties(
                                publisher="Contoso.Monitoring", type="Probe", type_handler_version="1.0",
                                settings={"target": "colleague"}))).result()
                elif kind == "extension_changed":
                    answer = self.sdk.virtual_machine_scale_set_extensions.begin_update(
                        RG, VMSS, "logging", models.VirtualMachineScaleSetExtensionUpdate(
                            properties=models.VirtualMachineScaleSetExtensionProperties(
                                settings={"level": "debug"}))).result()
                elif self.plan["kind"] == "image":   # ours_changed_back: the image back to the old one
                    answer = self.sdk.virtual_machine_scale_sets.begin_update(
                        RG, VMSS, models.VirtualMachineScaleSetUpdate(
                            virtual_machine_profile=models.VirtualMachineScaleSetUpdateVMProfile(
                                storage_profile=models.VirtualMachineScaleSetUpdateStorageProfile(
                                    image_reference=models.ImageReference(**image(OLD)))))).result()
                else:                                # ours_changed_back: the app's release setting back to v1
                    answer = self.sdk.virtual_machine_scale_set_extensions.begin_update(
                        RG, VMSS, "app", models.VirtualMachineScaleSetExtensionUpdate(
                            properties=models.VirtualMachineScaleSetExtensionProperties(
                                settings={"release": "v1", "commandToExecute": "deploy v1"}))).result()
                self.done = {"kind": kind, "time": time.time()}
                del answer
                return
            except HttpResponseError as err:   # 409 while an operation of ours runs: a colleague tries again
                if err.status_code not in (409, 412, 429, 500, 503) or time.monotonic() > deadline \
                        or self.stop.is_set():
                    self.error = "%s: %s" % (kind, str(err).splitlines()[0])
                    return
                time.sleep(0.1)
            except Exception as err:  # noqa: BLE001 - reported in the plan's report
                self.error = "%s: %r" % (kind, err)
                return


def arm_as_it_goes(emulator, plan: dict, colleague, stop: threading.Event, log: list, key: str = "at_batch",
                   started=None, what: str = "batch") -> None:
    """Watch the emulator: once ``started(emulator)`` (default: the forward upgrade calls, i.e. batches) reaches N,
    add the faults whose ``key`` is N and make the colleague's edit planned at N."""
    started = started or forward_lro_count
    pending_faults: dict[int, list] = {}
    for rule in plan["faults"]:
        if rule[key] > 0:
            pending_faults.setdefault(rule[key], []).append(dict((k, v) for k, v in rule.items() if k != key))
    edit_at = plan["edit"][key] if colleague is not None else None
    while not stop.is_set() and (pending_faults or edit_at is not None):
        count = started(emulator)
        for at in sorted(pending_faults):
            if count >= at:
                emulator.set_faults(pending_faults.pop(at))
                log.append("faults armed at %s %d" % (what, at))
        if edit_at is not None and count >= edit_at:
            edit_at = None
            colleague.apply()
            log.append("edit %s: %s" % (plan["edit"]["kind"], "done" if colleague.done else colleague.error))
        stop.wait(0.1)


def release_hang_on_next_write(emulator, plan: dict, stop: threading.Event, log: list) -> None:
    """A hung upgrade ends once the engine's call has timed out and the next model write meets it (the rollback's
    restore, refused with 409 while the upgrade holds the set): the rollback must wait it out, not give up."""
    fired = None
    while not stop.is_set() and fired is None:
        fired = next((e for e in emulator.events("fault_fired") if e.get("kind") == "upgrade_hangs"), None)
        stop.wait(0.1)
    if fired is None or stop.wait(plan["wait_timeout"] + 0.5):
        return
    writes = emulator.requests()["writes"]
    while not stop.is_set():
        if emulator.requests()["writes"] > writes:
            emulator.admin("DELETE", "/_emulator/faults/%s" % fired["rule"])
            log.append("the hung upgrade of instance %s released at the next write after the timeout"
                       % fired.get("instance_id"))
            return
        stop.wait(0.1)


@dataclass
class Run:
    rc: int | None
    output: str
    first_seq: int
    start: float
    end: float
    killed: bool = False
    killed_at: float | None = None   # when ansible-playbook was killed (its worker may still finish a change)


@dataclass
class Report:
    plan: dict
    checked: int = 0
    failures: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checked += 1
        if not ok:
            self.failures.append({"invariant": name, "detail": detail})
        return ok

    @property
    def failed_invariants(self) -> list[str]:
        return sorted(set(f["invariant"] for f in self.failures))

    def text(self) -> str:
        lines = ["seed %d: %s (%d invariants checked, %d failed)" % (
            self.plan["seed"], "FAIL" if self.failures else "pass", self.checked, len(self.failures)),
            "plan: " + json.dumps(self.plan, sort_keys=True)]
        lines += ["note: " + n for n in self.notes]
        lines += ["FAILED %s: %s" % (f["invariant"], f["detail"]) for f in self.failures]
        return "\n".join(lines)


def last_seq(emulator) -> int:
    events = emulator.events()
    return events[-1]["seq"] if events else 0


def start_playbook(env: dict, path: Path, workdir: Path, log: Path) -> subprocess.Popen:
    out = log.open("w")
    return subprocess.Popen([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)],
                            env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def run_plan(plan: dict, emulator, workdir: Path) -> Report:
    """Run one plan against ``emulator`` (reset first) and judge it. ``workdir`` must be empty and private."""
    began = time.monotonic()
    report = Report(plan)
    workdir.mkdir(parents=True, exist_ok=True)
    ensure_collection_link()
    emulator.reset()
    emulator.load_scenario(scenario(plan))
    wait_for(lambda: all(i.get("health") == "healthy" for i in fleet(emulator)), 60, what="the set to be healthy")
    sdk = sdk_client(emulator)
    start_model = sdk.virtual_machine_scale_sets.get(RG, VMSS)
    emulator.clear_events()
    emulator.reset_requests()
    initial = {i["instance_id"]: i for i in fleet(emulator)}
    timings = {"ready": time.monotonic()}

    env = ansible_environment(emulator, workdir)
    tasks_file = None
    record = workdir / "health_record.txt"
    if plan["health_tasks"]:
        tasks_file = workdir / "health_tasks.yml"
        tasks_file.write_text(yaml.safe_dump(health_tasks(plan, record)))
    book = workdir / "campaign.yml"
    book.write_text(yaml.safe_dump(playbook(plan, tasks_file), sort_keys=False))

    first_faults = [dict((k, v) for k, v in rule.items() if k != "at_batch")
                    for rule in plan["faults"] if rule["at_batch"] == 0]
    if first_faults:
        emulator.set_faults(first_faults)
    colleague = Colleague(plan, sdk) if plan["edit"] else None
    stop = threading.Event()
    armed_log: list = []
    watcher = threading.Thread(target=arm_as_it_goes, args=(emulator, plan, colleague, stop, armed_log), daemon=True)
    runs: list[Run] = []
    watcher.start()
    releaser = None
    if plan["rollback"] and any(f["kind"] == "upgrade_hangs" for f in plan["faults"]):
        releaser = threading.Thread(target=release_hang_on_next_write, args=(emulator, plan, stop, armed_log),
                                    daemon=True)
        releaser.start()
    try:
        runs.append(_first_run(plan, emulator, env, book, workdir, report))
        if runs[0].killed:
            seq = last_seq(emulator)
            start = time.time()
            proc = start_playbook(env, book, workdir, workdir / "rerun.log")
            proc.wait(timeout=600)
            runs.append(Run(proc.returncode, (workdir / "rerun.log").read_text(), seq, start, time.time()))
    finally:
        timings["played"] = time.monotonic()
        stop.set()
        if colleague is not None:
            colleague.stop.set()
        watcher.join(timeout=90)
        if releaser is not None:
            releaser.join(timeout=30)
        emulator.clear_faults()   # releases a hung upgrade
    report.notes += armed_log
    if colleague is not None and colleague.error:
        if "Conflict" in colleague.error:   # the set stayed busy (a held upgrade): nobody could edit it meanwhile
            report.notes.append("the colleague's edit found the set busy until the play ended: " + colleague.error)
        else:
            report.check("harness: the colleague's edit landed", False, colleague.error)
    # let everything the play left running finish before the final state is judged
    wait_for(lambda: not any((i.get("provisioning_state") or "").lower() == "updating" for i in fleet(emulator)),
             120, what="instances to stop updating")
    result = printed_result(runs[-1].output)
    timings["judged"] = time.monotonic()
    facts = Facts(plan=plan, events=emulator.events(), requests=emulator.requests(), fleet=fleet(emulator),
                  initial=initial, model=sdk.virtual_machine_scale_sets.get(RG, VMSS), start_model=start_model,
                  runs=runs, result=result, colleague=colleague.done if colleague else None,
                  health_record=record.read_text().split() if record.exists() else [])
    # what the judgement read, for a look after a failure
    (workdir / "facts.json").write_text(json.dumps({"events": facts.events, "requests": facts.requests,
                                                    "fleet": facts.fleet, "result": result}, default=str))
    judge(facts, report)
    report.seconds = round(time.monotonic() - began, 1)
    marks = sorted(timings.items(), key=lambda kv: kv[1])
    report.timings = dict((name, round(at - began, 1)) for name, at in marks)
    return report


def _first_run(plan: dict, emulator, env: dict, book: Path, workdir: Path, report: Report) -> Run:
    seq = last_seq(emulator)
    start = time.time()
    log = workdir / "run.log"
    proc = start_playbook(env, book, workdir, log)
    if not plan["kill"]:
        proc.wait(timeout=600)
        return Run(proc.returncode, log.read_text(), seq, start, time.time())
    at = plan["kill"]["at_batch"]
    if not kill_when(proc, lambda: forward_lro_count(emulator) >= at, book):
        report.notes.append("the run ended before batch %d: nothing to kill" % at)
        return Run(proc.returncode, log.read_text(), seq, start, time.time())
    return Run(None, log.read_text(), seq, start, time.time(), killed=True)


def kill_when(proc: subprocess.Popen, reached, book: Path) -> float | None:
    """SIGKILL ansible-playbook's process group once ``reached()``: the time of the kill, None when the play ended
    first. Returns once the batch engine's worker, which lives in its own session, has stopped by itself (before its
    next write)."""
    killed = None
    try:
        wait_for(lambda: reached() or proc.poll() is not None, 300, what="the point to kill the run at")
        if proc.poll() is None:
            killed = time.time()
            os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    if killed:
        wait_for(lambda: not processes_mentioning(str(book)), 180, what="the killed run's worker to stop")
    return killed


# -------------------------------------------------------------------------------------------- invariants

@dataclass
class Facts:
    plan: dict
    events: list
    requests: dict
    fleet: list
    initial: dict
    model: object
    start_model: object
    runs: list
    result: dict | None
    colleague: dict | None
    health_record: list


@dataclass
class Upgrade:
    """One instance's upgrade in the emulator's timeline."""
    instance_id: str
    lro: str
    start_seq: int
    start_time: float
    end_seq: int | None = None
    end_time: float | None = None
    result: str | None = None   # succeeded, failed, timed_out (outlived wait_timeout), None: still running
    direction: str = "forward"
    run: int = 0


def _etag_number(etag) -> int | None:
    digits = "".join(ch for ch in str(etag or "") if ch.isdigit())
    return int(digits) if digits else None


def timeline(facts: Facts):
    """Upgrades grouped by their manualupgrade LRO (a batch), with direction (forward, or back after our
    rollback's model write) and the run (0, or 1 for the rerun after a kill) they belong to."""
    events = sorted(facts.events, key=lambda e: e["seq"])
    run_starts = [r.first_seq for r in facts.runs]
    colleague_writes = set()
    if facts.colleague:
        # the colleague's write: the last model write before its edit returned
        after = [e for e in events if e["type"] == "model_write" and e["time"] <= facts.colleague["time"]]
        if after:
            colleague_writes.add(after[-1]["seq"])
    upgrades: list[Upgrade] = []
    open_by_instance: dict[str, Upgrade] = {}
    lro = None
    # per run (the killed one and its rerun): where its rollback began, if it had one
    rollback_from: dict[int, int] = {}
    # the rollback also shows as an upgrade call for an instance this run already upgraded (when there was no
    # model to restore, e.g. a colleague had changed our setting back already): the engine never does that
    done_in_run: dict[int, set] = {}
    lro_seq = None
    ours_written: dict[int, int] = {}

    def run_of(seq):
        return max([i for i, s in enumerate(run_starts) if s < seq] or [0])

    for event in events:
        kind = event["type"]
        if kind == "lro_start" and event.get("operation") == UPGRADE_OPERATION:
            lro = event["operation_id"]
            lro_seq = event["seq"]
        elif kind == "model_write" and event["seq"] not in colleague_writes and event.get("operation") != "scenario":
            # ours: a run's change is one PATCH of the model (retried on a conflict, still one write; none when a
            # rerun finds it made); a later write of ours in the same run is its rollback restoring the model
            run = run_of(event["seq"])
            ours_written[run] = ours_written.get(run, 0) + 1
            if run not in rollback_from and (ours_written[run] > 1 or done_in_run.get(run)):
                rollback_from[run] = event["seq"]
        elif kind == "instance_upgrade_start" and event.get("operation") == "manualupgrade":
            run = run_of(event["seq"])
            if run not in rollback_from and str(event["instance_id"]) in done_in_run.get(run, set()):
                rollback_from[run] = lro_seq
                for earlier in upgrades:
                    if earlier.start_seq > lro_seq:
                        earlier.direction = "back"
            up = Upgrade(str(event["instance_id"]), lro or "?", event["seq"], event["time"],
                         direction="back" if run in rollback_from else "forward", run=run)
            upgrades.append(up)
            open_by_instance[up.instance_id] = up
        elif kind == "instance_upgrade_end" and event.get("operation") == "manualupgrade":
            up = open_by_instance.pop(str(event["instance_id"]), None)
            if up is not None:
                up.end_seq, up.end_time, up.result = event["seq"], event["time"], event["result"]
                if up.direction == "forward":
                    done_in_run.setdefault(up.run, set()).add(up.instance_id)
    for up in upgrades:
        run = facts.runs[up.run]
        if up.end_time is not None and up.end_time > run.end and not run.killed:
            # still updating when its play ended (a hang released afterwards): not done, for that play
            up.end_seq, up.end_time, up.result = None, None, None
        elif up.direction == "forward" and up.end_time is not None \
                and up.end_time - up.start_time > facts.plan["wait_timeout"]:
            # outlived the engine's wait_timeout (a hang released during the play, at the rollback's first write):
            # still updating when the engine's call timed out, so not done for the forward judgement
            up.result = "timed_out"
    return events, upgrades, rollback_from, colleague_writes


def batches_of(upgrades: list[Upgrade], direction: str, run: int | None = None) -> list[list[Upgrade]]:
    order: dict[str, list[Upgrade]] = {}
    for up in upgrades:
        if up.direction == direction and (run is None or up.run == run):
            order.setdefault(up.lro, []).append(up)
    return list(order.values())


def settled_health(events: list, instance_id: str, after_seq: int, before_time: float | None = None):
    """The first settled App Health state (healthy/unhealthy) of an instance after ``after_seq``: (state, time)."""
    for event in events:
        if event["seq"] > after_seq and event["type"] == "health_change" and str(event["instance_id"]) == instance_id \
                and event["to"] in ("healthy", "unhealthy"):
            if before_time is not None and event["time"] > before_time:
                return None, None
            return event["to"], event["time"]
    return None, None


def state_at(events: list, seq: int, ids) -> dict:
    """Each instance's (health, provisioning) just before event ``seq``, from the timeline (start: healthy, ok)."""
    state = dict((i, ["healthy", "ok"]) for i in ids)
    for event in events:
        if event["seq"] >= seq:
            break
        instance = str(event.get("instance_id")) if event.get("instance_id") is not None else None
        if instance not in state:
            continue
        if event["type"] == "health_change":
            state[instance][0] = event["to"]
        elif event["type"] == "instance_upgrade_start":
            state[instance][1] = "updating"
        elif event["type"] == "instance_upgrade_end":
            state[instance][1] = "failed" if event["result"] == "failed" else "ok"
    return state


def is_unhealthy(health: str, provisioning: str) -> bool:
    return health in ("unhealthy", "unknown") or provisioning in ("failed", "updating")


def judge(facts: Facts, report: Report) -> None:
    plan = facts.plan
    events, upgrades, rollbacks, colleague_writes = timeline(facts)
    ids = sorted(facts.initial, key=int)
    zone_of = dict((i["instance_id"], i.get("zone")) for i in facts.fleet)
    final_run = len(facts.runs) - 1
    final = facts.runs[-1]

    # ---- one batch at a time, one zone at a time, nobody twice in one direction
    in_flight: dict[str, Upgrade] = {}
    overlap, zones = [], []
    by_start = dict((u.start_seq, u) for u in upgrades)
    by_end = dict((u.end_seq, u) for u in upgrades if u.end_seq is not None)
    for event in events:
        if event["seq"] in by_start:
            up = by_start[event["seq"]]
            others = [o.instance_id for o in in_flight.values() if o.lro != up.lro]
            if others:
                overlap.append("instance %s (%s) started while %s of an earlier batch were updating" % (
                    up.instance_id, up.direction, ", ".join(sorted(others, key=int))))
            in_flight[up.instance_id] = up
            if plan["zones"] and len(set(zone_of.get(i) for i in in_flight)) > 1:
                zones.append("instances %s in flight at once, in zones %s" % (
                    ", ".join(sorted(in_flight, key=int)), ", ".join(sorted(set(zone_of.get(i) for i in in_flight)))))
        elif event["seq"] in by_end:
            in_flight.pop(by_end[event["seq"]].instance_id, None)
    report.check("no batch starts while an earlier batch is updating", not overlap, "; ".join(overlap))
    refused = _refused_upgrade_calls(facts, events)
    report.check("no upgrade call refused (sent while the set was busy)", refused == 0,
                 "%d manualupgrade call(s) were refused by the emulator (409: sent while an upgrade was running)"
                 % refused)
    if plan["zones"]:
        report.check("never two zones in flight", not zones, "; ".join(zones[:3]))
    # twice in one direction: again the same way while (or after) the last upgrade went that way, with no model
    # change in between (a colleague's edit or a rerun's rollback-then-change legitimately outdates it again)
    twice = []
    writes = [e["seq"] for e in events if e["type"] == "model_write"]
    last: dict[str, Upgrade] = {}
    for up in upgrades:
        earlier = last.get(up.instance_id)
        if earlier is not None and earlier.direction == up.direction and earlier.result != "failed" \
                and not any(earlier.start_seq < w < up.start_seq for w in writes):
            twice.append("instance %s upgraded %s twice (the first %s)" % (
                up.instance_id, up.direction, earlier.result or "still running"))
        last[up.instance_id] = up
    report.check("no instance upgraded twice in one direction", not twice, "; ".join(twice))
    if not plan["rollback"]:
        report.check("nothing upgraded back without rollback", not rollbacks,
                     "instances %s were upgraded again after the forward batches" % sorted(
                         set(u.instance_id for u in upgrades if u.direction == "back"), key=int))

    # ---- the gate of every batch ran, was judged, and stopped the rollout at a breach
    forward_all = batches_of(upgrades, "forward")
    gate_problems, breach_problems = [], []
    run_breach: dict[int, str] = {}
    for run_index, run in enumerate(facts.runs):
        batches = batches_of(upgrades, "forward", run_index)
        attempted: list[Upgrade] = []
        health_lines = [line for line in run.output.splitlines() if " health: instance " in line]
        # the whole-set check before starting (a rerun finds what the killed run left: a failed instance counts),
        # judged once the instances still updating from that run have ended, as the engine waits for them
        point = run.first_seq + 1
        for up in upgrades:
            if up.start_seq < run.first_seq and (up.end_seq is None or up.end_seq > run.first_seq):
                point = max(point, (up.end_seq or point) + 1)
        whole = state_at(events, point, ids)
        sick = [i for i, (h, p) in whole.items() if is_unhealthy(h, p)]
        if len(sick) * 100 > plan["max_unhealthy_percent"] * len(ids):
            run_breach.setdefault(run_index, "%d of %d of the set unhealthy before starting (%s)" % (
                len(sick), len(ids), ", ".join(sick)))
            if batches:
                breach_problems.append("run %d: a batch started though the set was unhealthy before starting"
                                       % (run_index + 1))
            continue
        for number, batch in enumerate(batches):
            attempted += batch
            later = [b for b in forward_all if b[0].start_seq > batch[0].start_seq]
            next_seq = later[0][0].start_seq if later else None
            next_time = later[0][0].start_time if later else None
            rollback_from = rollbacks.get(run_index)
            if rollback_from is not None and (next_seq is None or rollback_from < next_seq):
                next_seq = rollback_from
                next_time = next((e["time"] for e in events if e["seq"] == rollback_from), None)
            stop_time = next_time if next_time is not None else run.end
            # gate: every instance upgraded in this batch settled before anything else happened
            for up in batch:
                if up.result == "succeeded":
                    state, _when = settled_health(events, up.instance_id, up.end_seq, stop_time)
                    if state is None and not run.killed:
                        gate_problems.append("batch %d of run %d: instance %s had not settled (App Health) when %s" % (
                            number + 1, run_index + 1, up.instance_id,
                            "the next step started" if next_time is not None else "the play ended"))
            # the live line of the batch's App Health judgement
            batch_ids = set(u.instance_id for u in batch)
            line = next((l for l in health_lines
                         if set(_ids_in_health_line(l)) == batch_ids or batch_ids <= set(_ids_in_health_line(l))), None)
            judged = [u for u in batch if u.result is not None]   # a batch whose every upgrade hung has no health yet
            if line is None and judged and not (run.killed and number == len(batches) - 1):
                gate_problems.append("batch %d of run %d (instances %s): no App Health line printed" % (
                    number + 1, run_index + 1, ", ".join(sorted(batch_ids, key=int))))
            elif line is not None:
                printed = _ids_in_health_line(line)
                for up in batch:
                    if up.result == "succeeded":
                        state = settled_health(events, up.instance_id, up.end_seq)[0]
                        if printed.get(up.instance_id) != state:
                            gate_problems.append("batch %d of run %d: instance %s printed %r, App Health became %r"
                                                 % (number + 1, run_index + 1, up.instance_id,
                                                    printed.get(up.instance_id), state))
            # the threshold over every instance upgraded so far, from the settled states
            bad = sorted(set(u.instance_id for u in attempted if _ended_badly(events, u, run)), key=int)
            tried = sorted(set(u.instance_id for u in attempted), key=int)
            breach = ""
            if bad and len(bad) * 100 > plan["max_unhealthy_upgraded_percent"] * len(tried):
                breach = "%d of %d upgraded unhealthy after batch %d (%s)" % (
                    len(bad), len(tried), number + 1, ", ".join(bad))
            hung = sorted((u.instance_id for u in batch if u.result in (None, "timed_out") and not run.killed),
                          key=int)
            if not breach and hung:
                breach = "the upgrade call of batch %d did not finish (instances %s still updating)" % (
                    number + 1, ", ".join(hung))
            fail_at = (plan["health_tasks"] or {}).get("fail_at_batch")
            if not breach and fail_at and facts.health_record and number + 1 == fail_at and run_index == 0 \
                    and len(facts.health_record) >= fail_at:
                breach = "the health tasks failed after batch %d" % fail_at
            if not breach and number + 1 < len(batches):
                # what the engine judged before the next batch: the set once this batch settled (before any drain)
                whole = state_at(events, _settled_seq(events, batch) + 1, ids)
                sick = [i for i, (h, p) in whole.items() if is_unhealthy(h, p)]
                if len(sick) * 100 > plan["max_unhealthy_percent"] * len(ids):
                    breach = "%d of %d of the set unhealthy before batch %d (%s)" % (
                        len(sick), len(ids), number + 2, ", ".join(sick))
            if breach:
                run_breach.setdefault(run_index, breach)
                if number + 1 < len(batches):
                    breach_problems.append("run %d: batch %d started after the breach: %s" % (
                        run_index + 1, number + 2, breach))
                break
    report.check("the App Health gate of every batch ran and was judged", not gate_problems,
                 "; ".join(gate_problems[:4]))
    report.check("no batch after a breach; unhealthy never exceeds the threshold by more than one batch",
                 not breach_problems, "; ".join(breach_problems))

    # ---- the returned lists and status equal the events
    # the outcome by events: a breach stops the rollout; without one, success means every instance was attempted
    # (or a non-idempotent write whose connection was dropped, which no client may retry blindly)
    breached = final_run in run_breach
    # (an instance found on the latest model needs nothing, e.g. after a colleague changed our setting back)
    current = set(i["instance_id"] for i in facts.fleet if i.get("latest_model_applied")) \
        if final_run not in rollbacks else set()
    attempted_all = set(u.instance_id for u in upgrades if u.direction == "forward") | current >= set(ids)
    final_start = facts.runs[-1].first_seq
    lost_writes = [e for e in events if e["seq"] > final_start and e["type"] == "fault_fired"
                   and e.get("kind") == "drop_connection" and (e.get("method") or "").upper() in ("POST", "PATCH")]
    may_stop = breached or bool(lost_writes)
    outcome_text = ("breach: %s" % run_breach[final_run] if breached else
                    "no breach, every instance attempted" if attempted_all else
                    "no breach, instances %s never attempted" % ", ".join(
                        sorted(set(ids) - current - set(u.instance_id for u in upgrades if u.direction == "forward"),
                               key=int)))
    if lost_writes and not breached:
        outcome_text += " (a %s lost to a dropped connection)" % lost_writes[0].get("path", "write")
    report.check("the rollout goes through every instance unless it stops for a breach or a lost write",
                 attempted_all or may_stop, outcome_text)
    result = facts.result
    forward = [u for u in upgrades if u.direction == "forward" and u.run == final_run]
    back = [u for u in upgrades if u.direction == "back" and u.run == final_run]
    ev_upgraded = sorted(set(u.instance_id for u in forward if u.result == "succeeded"), key=int)
    ev_failed = sorted(set(u.instance_id for u in forward if u.result != "succeeded")
                       - set(ev_upgraded), key=int)
    ev_rolled_back = sorted(set(u.instance_id for u in back if u.result == "succeeded"), key=int)
    if forward and not report.check("the play saved rolling_upgrade_result", bool(result),
                                    "no result (rc %s): %s" % (final.rc, tail(final.output))):
        result = {}
    if result:
        got_upgraded = sorted(result.get("upgraded") or [], key=int)
        got_failed = sorted((f["instance_id"] for f in result.get("failed") or []), key=int)
        got_rolled = sorted(result.get("rolled_back") or [], key=int)
        got_skipped = sorted((s["instance_id"] for s in result.get("skipped") or []), key=int)
        report.check("summary: upgraded equals the events", got_upgraded == ev_upgraded,
                     "result says %s, events say %s" % (got_upgraded, ev_upgraded))
        report.check("summary: failed equals the events", got_failed == ev_failed,
                     "result says %s, events say %s" % (got_failed, ev_failed))
        report.check("summary: rolled back equals the events", got_rolled == ev_rolled_back,
                     "result says %s, events say %s" % (got_rolled, ev_rolled_back))
        wrongly_skipped = sorted(set(got_skipped) & set(u.instance_id for u in forward), key=int)
        report.check("summary: skipped instances were not upgraded", not wrongly_skipped,
                     "skipped %s, but the events show them upgraded in this run" % wrongly_skipped)
        status = result.get("status")
        rolled_back_ok = all(u.result == "succeeded" for u in back)
        if breached:
            ok = status in ("breached", "rolled_back")
        elif lost_writes:
            ok = (status == "completed") == attempted_all
        else:
            ok = status == "completed"
        report.check("summary: status matches the events", ok, "status %r; events: %s" % (status, outcome_text))
        if status == "rolled_back":
            report.check("summary: 'rolled_back' only when the rollback brought every upgraded instance back",
                         rolled_back_ok and set(ev_rolled_back) >= set(ev_upgraded),
                         "rolled back %s of upgraded %s" % (ev_rolled_back, ev_upgraded))

    # ---- exit status
    if breached:
        rc_ok = final.rc != 0
    elif lost_writes:
        rc_ok = (final.rc == 0) == attempted_all
    else:
        rc_ok = final.rc == 0
    report.check("exit status matches the outcome", rc_ok,
                 "rc %s; events: %s; %s" % (final.rc, outcome_text, failure_line(final.output)))

    # ---- edits survive; ours survives unless rolled back
    model = facts.model
    ours_back = bool(facts.colleague and facts.colleague["kind"] == "ours_changed_back")
    rolled = any(e["type"] == "model_write" and e["seq"] >= rollbacks.get(final_run, 1 << 62)
                 and e["seq"] not in colleague_writes
                 for e in events)
    our_value = (model.virtual_machine_profile.storage_profile.image_reference.version if plan["kind"] == "image"
                 else _ext_settings(model, "app").get("release"))
    new_value, old_value = (NEW, OLD) if plan["kind"] == "image" else ("v2", "v1")
    if ours_back:
        report.check("a colleague's edit survives (our setting changed back stays changed back)",
                     our_value == old_value, "the model has %r after the colleague set %r" % (our_value, old_value))
    elif rolled:
        report.check("our change is undone by the rollback", our_value == old_value,
                     "the rollback wrote the model, which has %r" % our_value)
    elif result and result.get("status") in ("completed", "breached"):
        model_written = any(e["type"] == "model_write" and e["seq"] not in colleague_writes for e in events)
        if model_written:
            report.check("our change survives unless rolled back", our_value == new_value,
                         "the model has %r, status %r" % (our_value, result.get("status")))
    if plan["rollback"] and breached and forward and not ours_back:
        report.check("a breach with rollback on restores the previous model", our_value == old_value,
                     "the model has %r after %s; %s" % (our_value, outcome_text, failure_line(final.output)))
    if facts.colleague and not ours_back:
        kind = facts.colleague["kind"]
        if kind == "tags":
            tags = model.tags or {}
            report.check("a colleague's edit survives (tag)", tags.get(COLLEAGUE_TAG[0]) == COLLEAGUE_TAG[1],
                         "tags now %s" % tags)
        elif kind == "extension_added":
            report.check("a colleague's edit survives (extension added)",
                         _ext_settings(model, "monitor") == {"target": "colleague"},
                         "extensions now %s" % _ext_names(model))
        elif kind == "extension_changed":
            report.check("a colleague's edit survives (extension changed)",
                         _ext_settings(model, "logging").get("level") == "debug",
                         "logging settings now %s" % _ext_settings(model, "logging"))
    if "logging" in _ext_names(facts.start_model):
        report.check("extensions nobody asked to change are still there", "logging" in _ext_names(model),
                     "extensions now %s" % _ext_names(model))
    if plan["kind"] == "extension" or plan["faults"]:
        report.check("the health signal is still in the model", "health" in _ext_names(model),
                     "extensions now %s" % _ext_names(model))


def _settled_seq(events: list, batch: list) -> int:
    """The seq by which every instance of the batch had ended its upgrade and settled its App Health."""
    last = max(u.end_seq or u.start_seq for u in batch)
    for up in batch:
        if up.result == "succeeded":
            for event in events:
                if event["seq"] > up.end_seq and event["type"] == "health_change" \
                        and str(event["instance_id"]) == up.instance_id and event["to"] in ("healthy", "unhealthy"):
                    last = max(last, event["seq"])
                    break
    return last


def _ended_badly(events: list, up: Upgrade, run: Run) -> bool:
    if up.result != "succeeded":
        return True   # failed, or still running (hung) at the end
    state = settled_health(events, up.instance_id, up.end_seq)[0]
    return state == "unhealthy"


def _refused_upgrade_calls(facts: Facts, events: list) -> int:
    """manualupgrade calls the emulator counted but neither accepted (an LRO) nor answered with an injected fault."""
    sent = facts.requests.get("by_operation", {}).get(UPGRADE_OPERATION, 0)
    accepted = len([e for e in events if e["type"] == "lro_start" and e.get("operation") == UPGRADE_OPERATION])
    injected = len([e for e in events if e["type"] == "fault_fired" and "manualupgrade" in (e.get("path") or "")])
    return max(0, sent - accepted - injected)


def _ids_in_health_line(line: str) -> dict:
    """'Batch 2/3 health: instance 1 healthy, instance 6 unhealthy (failed)' -> {'1': 'healthy', '6': 'unhealthy'}."""
    cells = line.split(" health: ", 1)[1].split(", ")
    out = {}
    for cell in cells:
        words = cell.replace("(", " ").split()
        if len(words) >= 3 and words[0] == "instance":
            out[words[1]] = words[2]
    return out


def _ext_list(model) -> list:
    profile = model.virtual_machine_profile.extension_profile
    return list((profile.extensions if profile else None) or [])


def _ext_names(model) -> list:
    return sorted(e.name for e in _ext_list(model))


def _ext_settings(model, name: str) -> dict:
    for ext in _ext_list(model):
        if ext.name == name:
            return dict((ext.properties.settings if ext.properties else None) or {})
    return {}


def failure_line(output: str) -> str:
    lines = [line for line in output.splitlines() if "FAILED!" in line or line.startswith("fatal")]
    return (lines[-1][:400] if lines else "no failure printed")


def tail(text: str, lines: int = 6) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])
