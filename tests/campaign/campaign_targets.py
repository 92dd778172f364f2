"""The fault campaign on the two other kinds of rollout target: a Flexible scale set (image_rollout, members by
name, batches by zone and fault domain) and a group of plain VMs (rolling_upgrade tasks_from vm_group, an
extension rolled VM by VM, batches by availability-set update domain, fault domain or count).

Same idea as campaign_lib (a plan is a pure function of its seed; invariants are judged only from the emulator's
events and state, an SDK read of the models, and the play's exit status and printed result), with the faults the
emulator injects on VMs (upgrade_fails, upgrade_hangs, unhealthy_after_upgrade on manualupgrade / vm_extension,
request faults, short tokens), a member under a ReadOnly lock, a colleague's edit through the SDK and a killed
controller. Replay with ``tools/campaign.py --target flexible --seed N``.
"""
from __future__ import annotations

import json
import random
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

import campaign_lib as lib
from campaign_lib import NEW, OLD, RG, Report, Run, image

TARGETS = ("flexible", "vm_group")
FLEX = "flex"
GROUP = "grp"
APP_PORT = lib.APP_PORT
FAULT_KINDS = ("upgrade_fails", "upgrade_hangs", "unhealthy_after_upgrade", "throttle", "http_error",
               "drop_connection", "token_lifetime")
COLLEAGUE_TAG = lib.COLLEAGUE_TAG
LOCK_NAME = "hold"
# the operations that change a member: manualupgrade (Flexible) and an extension write (a plain VM)
CHANGE_OPERATIONS = ("manualupgrade", "vm_extension")
VM_HEALTH = dict(lib.HEALTH_EXTENSION, properties=dict(lib.HEALTH_EXTENSION["properties"],
                                                       enableAutomaticUpgrade=False))
VM_APP = {"name": "app", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                        "typeHandlerVersion": "2.1", "settings": {"release": "v1"}}}


def app_extension(release: str) -> dict:
    """The VM group's extension in the role's (user) shape."""
    return {"name": "app", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
            "type_handler_version": "2.1", "settings": {"release": release}}


# --------------------------------------------------------------------------------------------------- plans

def make_plan(seed: int, target: str | None = None) -> dict:
    """A random but replayable plan for ``target`` (drawn from the seed when not given)."""
    rnd = random.Random("%s-%d" % (target or "any", seed))
    target = target or rnd.choice(TARGETS)
    if target == "flexible":
        size = rnd.randint(4, 6)
        # "update_domain" is the role's word for one domain at a time: here a fault domain of a zone
        batch, batch_by = rnd.choice(["update_domain", "update_domain", 2]), "fault_domain"
    else:
        size = rnd.randint(3, 5)
        batch, batch_by = rnd.choice([("update_domain", "update_domain"), ("update_domain", "fault_domain"),
                                      (2, "none")])
    plan = {
        "seed": seed, "target": target, "size": size, "batch": batch, "batch_by": batch_by,
        "rollback": rnd.random() < 0.6, "http_check": rnd.random() < 0.5,
        "max_unhealthy_upgraded_percent": rnd.choice([20, 34, 50]),
        "max_unhealthy_percent": 20 if rnd.random() < 0.6 else 50,
        "faults": [], "edit": None, "kill": None, "lock": None, "wait_timeout": 60,
    }
    names = member_names(plan)
    for fault in rnd.sample(FAULT_KINDS, rnd.choice([1, 2, 2, 3])):
        plan["faults"].append(_fault(rnd, fault, target, names))
    hang = any(f["kind"] == "upgrade_hangs" for f in plan["faults"])
    if hang:
        plan["wait_timeout"] = lib.HANG_WAIT_TIMEOUT
    if rnd.random() < 0.4:
        # never the member a fault names: a locked member is never written, so its fault could not fire
        named = set(n for f in plan["faults"] for n in f.get("instance_ids", []))
        free = [n for n in names if n not in named]
        if free:
            plan["lock"] = rnd.choice(free)
    if rnd.random() < 0.6:
        plan["edit"] = {"kind": "tags", "at_upgrade": rnd.choice([1, 2])}
    if rnd.random() < 0.35 and not hang:
        plan["kill"] = {"at_upgrade": rnd.choice([1, 2])}
    return plan


def member_names(plan: dict) -> list[str]:
    """The members' names, as the emulator names them (Flexible: {set}_{sha256 of rg/set/index}[:8])."""
    if plan["target"] == "flexible":
        import hashlib
        return sorted("%s_%s" % (FLEX, hashlib.sha256(("%s/%s/%d" % (RG, FLEX, i)).lower().encode()).hexdigest()[:8])
                      for i in range(plan["size"]))
    return ["vm-%d" % i for i in range(1, plan["size"] + 1)]


def _fault(rnd: random.Random, fault: str, target: str, names: list[str]) -> dict:
    """One emulator fault rule (plus "at_upgrade": armed once that many member changes started, 0 = before)."""
    rule = lib.machine_fault(rnd, fault, names,
                             lib.SICK_ON_NEW_IMAGE if target == "flexible" else lib.SICK_ON_NEW_RELEASE)
    if rule is None and fault == "http_error":
        write = {"method": "POST", "path": "manualupgrade"} if target == "flexible" \
            else {"method": "PUT", "path": "extensions/app"}
        rule = rnd.choice([
            {"kind": "http_error", "status": 503, "match": write, "count": 1, "retry_after": 0.2},
            {"kind": "http_error", "status": 500, "match": {"method": "GET", "path": "operations"}, "every": 3},
        ])
    elif rule is None:   # drop_connection
        # reads only: a dropped write is a lost write no client may retry blindly (campaign_lib judges that case)
        rule = {"kind": "drop_connection", "match": rnd.choice([
            {"operation": "VirtualMachines_List"}, {"method": "GET", "path": "networkInterfaces"},
            {"operation": "VirtualMachineExtensions_Get"} if target == "vm_group"
            else {"operation": "VirtualMachineScaleSets_Get"}]), "count": 1}
    rule["at_upgrade"] = rnd.choice([0, 1, 2]) if fault in ("throttle", "http_error", "drop_connection") else 0
    return rule


def plan_covers(plans: list[dict]) -> dict:
    covered: dict[str, set] = {"targets": set(), "faults": set(), "features": set()}
    for plan in plans:
        covered["targets"].add(plan["target"])
        covered["faults"].update(f["kind"] for f in plan["faults"])
        for feature, on in (("rollback", plan["rollback"]), ("no_rollback", not plan["rollback"]),
                            ("lock", plan["lock"]), ("edit", plan["edit"]), ("kill", plan["kill"]),
                            ("count", isinstance(plan["batch"], int)), ("http_check", plan["http_check"])):
            if on:
                covered["features"].add(feature)
    return {key: sorted(value) for key, value in covered.items()}


# --------------------------------------------------------------------------------------------- execution

def scenario(plan: dict) -> dict:
    config = dict(lib.FAST)
    if plan["kill"]:
        config["upgrade_seconds"] = lib.KILL_UPGRADE_SECONDS
    data = {"config": config, "resource_groups": [{"name": RG, "location": "westeurope"}]}
    if plan["target"] == "flexible":
        data["scale_sets"] = [{
            "name": FLEX, "resource_group": RG, "orchestration_mode": "Flexible", "platform_fault_domain_count": 2,
            "zones": ["1", "2"], "capacity": plan["size"], "upgrade_policy": "Manual", "image": image(OLD),
            "extensions": [lib.HEALTH_EXTENSION], "app": {"port": APP_PORT}}]
    else:
        data["virtual_machines"] = [dict(
            {"name": name, "resource_group": RG, "availability_set": "av", "image": image(OLD),
             "extensions": [VM_HEALTH, VM_APP], "app": {"port": APP_PORT}},
            **({"locks": [{"name": LOCK_NAME, "level": "ReadOnly", "notes": "campaign"}]} if name == plan["lock"]
               else {})) for name in member_names(plan)]
    return data


def playbook(plan: dict) -> list:
    engine = {"batch": plan["batch"], "rollback": plan["rollback"], "http_check": plan["http_check"],
              "http_retries": 2, "http_delay": 1, "health_timeout": 20, "wait_timeout": plan["wait_timeout"],
              "poll_interval": 1, "show_heatmap": False, "max_unhealthy_percent": plan["max_unhealthy_percent"],
              "max_unhealthy_upgraded_percent": plan["max_unhealthy_upgraded_percent"]}
    if plan["target"] == "flexible":
        role, prefix = {"name": "vmss.rollout.image_rollout"}, "image_rollout"
        if isinstance(plan["batch"], int):
            engine["batch_across_update_domains"] = True
        role_vars = {"image_rollout_resource_group": RG, "image_rollout_name": FLEX, "image_rollout_image": image(NEW)}
    else:
        role, prefix = {"name": "vmss.rollout.rolling_upgrade", "tasks_from": "vm_group"}, "rolling_upgrade"
        role_vars = {"rolling_upgrade_resource_group": RG, "rolling_upgrade_name": GROUP,
                     "rolling_upgrade_virtual_machines": member_names(plan),
                     "rolling_upgrade_extension": app_extension("v2"), "rolling_upgrade_batch_by": plan["batch_by"]}
    role_vars.update(("%s_%s" % (prefix, key), value) for key, value in engine.items())
    return [{"name": "Campaign rollout", "hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "Roll out and keep the result", "block": [
            {"name": "Roll out", "ansible.builtin.include_role": role, "vars": role_vars}],
        "always": [{"name": lib.RESULT_TASK,
                    "ansible.builtin.debug": {"msg": "{{ rolling_upgrade_result | default({}) }}"}}]}]}]


def members(emulator, plan: dict) -> list[dict]:
    """The emulator's rows of the target's members (instance_id = name, placement, health, image)."""
    if plan["target"] == "flexible":
        return emulator.instances(RG, FLEX)
    rows = emulator.admin("GET", "/_emulator/virtual_machines/%s" % RG)["virtual_machines"]
    wanted = set(member_names(plan))
    return [row for row in rows if row["name"] in wanted]


def change_starts(emulator, plan: dict) -> int:
    names = set(member_names(plan))
    return len([e for e in emulator.events("instance_upgrade_start")
                if e.get("operation") in CHANGE_OPERATIONS and e.get("instance_id") in names])


def lock_member(sdk, emulator, name: str) -> None:
    """A ReadOnly lock at a Flexible member's scope, through the SDK client's pipeline."""
    from azure.core.rest import HttpRequest

    scope = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s" % (
        emulator.env["AZURE_SUBSCRIPTION_ID"], RG, name)
    answer = sdk.send_request(HttpRequest(
        "PUT", scope + "/providers/Microsoft.Authorization/locks/%s?api-version=2016-09-01" % LOCK_NAME,
        json={"properties": {"level": "ReadOnly", "notes": "campaign"}}))
    answer.raise_for_status()


class Colleague:
    """Someone tagging the set (Flexible) or a VM of the group through the SDK while the rollout runs, retrying
    while it is busy (409)."""

    def __init__(self, plan: dict, sdk):
        self.plan = plan
        self.sdk = sdk
        # a VM the lock leaves writable (a locked one refuses the colleague too)
        self.vm = None if plan["target"] == "flexible" else [n for n in member_names(plan) if n != plan["lock"]][0]
        self.done: dict | None = None
        self.error: str | None = None
        self.stop = threading.Event()

    def apply(self) -> None:
        from azure.core.exceptions import HttpResponseError
        from azure.mgmt.compute import models

        tags = {COLLEAGUE_TAG[0]: COLLEAGUE_TAG[1]}
        deadline = time.monotonic() + 300
        while True:
            try:
                if self.vm is None:
                    self.sdk.virtual_machine_scale_sets.begin_update(
                        RG, FLEX, models.VirtualMachineScaleSetUpdate(tags=tags)).result()
                else:
                    self.sdk.virtual_machines.begin_update(RG, self.vm, models.VirtualMachineUpdate(tags=tags)).result()
                self.done = {"kind": "tags", "time": time.time()}
                return
            except HttpResponseError as err:
                if err.status_code not in (409, 412, 429, 500, 503) or time.monotonic() > deadline \
                        or self.stop.is_set():
                    self.error = "tags: %s" % str(err).splitlines()[0]
                    return
                time.sleep(0.1)
            except Exception as err:  # noqa: BLE001 - reported in the plan's report
                self.error = "tags: %r" % err
                return

    def tags(self) -> dict:
        if self.vm is None:
            return self.sdk.virtual_machine_scale_sets.get(RG, FLEX).tags or {}
        return self.sdk.virtual_machines.get(RG, self.vm).tags or {}


def _rule(rule: dict) -> dict:
    return dict((k, v) for k, v in rule.items() if k != "at_upgrade")


def run_plan(plan: dict, emulator, workdir: Path) -> Report:
    """Run one plan against ``emulator`` (reset first) and judge it."""
    began = time.monotonic()
    report = Report(plan)
    workdir.mkdir(parents=True, exist_ok=True)
    lib.ensure_collection_link()
    emulator.reset()
    emulator.load_scenario(scenario(plan))
    lib.wait_for(lambda: all(m.get("health") == "healthy" for m in members(emulator, plan)), 60,
                 what="the members to be healthy")
    sdk = lib.sdk_client(emulator)
    if plan["lock"] and plan["target"] == "flexible":
        lock_member(sdk, emulator, plan["lock"])
    emulator.clear_events()
    emulator.reset_requests()
    initial = dict((m["instance_id"], m) for m in members(emulator, plan))
    env = lib.ansible_environment(emulator, workdir)
    book = workdir / "campaign.yml"
    book.write_text(yaml.safe_dump(playbook(plan), sort_keys=False))
    first = [_rule(rule) for rule in plan["faults"] if rule["at_upgrade"] == 0]
    if first:
        emulator.set_faults(first)
    colleague = Colleague(plan, sdk) if plan["edit"] else None
    stop = threading.Event()
    log: list = []
    threads = [threading.Thread(target=lib.arm_as_it_goes, daemon=True, args=(
        emulator, plan, colleague, stop, log, "at_upgrade", lambda emu: change_starts(emu, plan), "change"))]
    if plan["rollback"] and any(f["kind"] == "upgrade_hangs" for f in plan["faults"]):
        # the hung change ends at the first write after the batch timed out (the rollback's), as campaign_lib's
        threads.append(threading.Thread(target=lib.release_hang_on_next_write, args=(emulator, plan, stop, log),
                                        daemon=True))
    for thread in threads:
        thread.start()
    runs: list[Run] = []
    try:
        runs.append(_first_run(plan, emulator, env, book, workdir, report))
        if runs[0].killed:
            seq = lib.last_seq(emulator)
            start = time.time()
            proc = lib.start_playbook(env, book, workdir, workdir / "rerun.log")
            proc.wait(timeout=600)
            runs.append(Run(proc.returncode, (workdir / "rerun.log").read_text(), seq, start, time.time()))
    finally:
        stop.set()
        if colleague is not None:
            colleague.stop.set()
        for thread in threads:
            thread.join(timeout=90)
        emulator.clear_faults()   # releases a hung change
    report.notes += log
    if colleague is not None and colleague.error:
        report.check("harness: the colleague's edit landed", "Conflict" in colleague.error, colleague.error)
    lib.wait_for(lambda: not any((m.get("provisioning_state") or "").lower() in ("updating", "creating")
                                 for m in members(emulator, plan)), 120, what="members to stop updating")
    facts = {"plan": plan, "events": emulator.events(), "members": members(emulator, plan), "initial": initial,
             "runs": runs, "result": lib.printed_result(runs[-1].output),
             "colleague": colleague.done if colleague else None,
             "colleague_tags": colleague.tags() if colleague and colleague.done else None,
             "model": _model_value(sdk, plan)}
    (workdir / "facts.json").write_text(json.dumps(dict(facts, runs=[r.__dict__ for r in runs]), default=str))
    judge(facts, report)
    report.seconds = round(time.monotonic() - began, 1)
    return report


def _first_run(plan, emulator, env, book, workdir, report) -> Run:
    seq = lib.last_seq(emulator)
    start = time.time()
    log = workdir / "run.log"
    proc = lib.start_playbook(env, book, workdir, log)
    if not plan["kill"]:
        proc.wait(timeout=600)
        return Run(proc.returncode, log.read_text(), seq, start, time.time())
    killed_at = lib.kill_when(proc, lambda: change_starts(emulator, plan) >= plan["kill"]["at_upgrade"], book)
    if killed_at is None:
        report.notes.append("the run ended before change %d: nothing to kill" % plan["kill"]["at_upgrade"])
    return Run(None if killed_at else proc.returncode, log.read_text(), seq, start, time.time(),
               killed=killed_at is not None, killed_at=killed_at)


def _model_value(sdk, plan: dict):
    """Flexible: the set's model image version. VM group: each VM's app release (its extension's model)."""
    if plan["target"] == "flexible":
        return sdk.virtual_machine_scale_sets.get(RG, FLEX).virtual_machine_profile.storage_profile \
            .image_reference.version
    return dict((name, (sdk.virtual_machine_extensions.get(RG, name, "app").settings or {}).get("release"))
                for name in member_names(plan))


def app_release(row: dict) -> str | None:
    """What the VM's own app runs (its /health lists the extensions it applied, with public settings)."""
    try:
        with urllib.request.urlopen("http://%s:%s/health" % (row["ip"], row["app_port"]),  # noqa: S310
                                    timeout=5) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as err:   # an unhealthy app answers 503 with the same body
        body = json.loads(err.read())
    return ((body.get("extensions") or {}).get("app") or {}).get("release")


# -------------------------------------------------------------------------------------------- invariants

PLAN_LINE = re.compile(r"Batch (\d+)/(\d+): (.*?) \u2014 instances ([\w, -]+)")


def printed_plan(output: str) -> dict[str, int]:
    """member -> its batch number, from the plan the run printed ("Batch 2/4: zone 1, fault domain 1 — instances
    a, b")."""
    batch_of: dict[str, int] = {}
    for match in PLAN_LINE.finditer(output):
        for name in match.group(4).split(","):
            batch_of.setdefault(name.strip(), int(match.group(1)))
    return batch_of


def changes(facts: dict) -> list[dict]:
    """Every member change (start, end, result, run, direction): the timeline the invariants read."""
    plan, runs = facts["plan"], facts["runs"]
    names = set(facts["initial"])
    starts = [r.first_seq for r in runs]
    out, open_by = [], {}
    forward_done: dict[int, set] = {}
    rollback_from: dict[int, int] = {}

    def run_of(seq):
        return max([i for i, s in enumerate(starts) if s < seq] or [0])

    colleague_seq = colleague_write(facts)
    for event in facts["events"]:
        run = run_of(event["seq"])
        if event["type"] == "model_write" and event.get("operation") != "scenario" and event["seq"] != colleague_seq:
            if plan["target"] == "flexible" and not event.get("vm"):
                # the run changes the set's model before its first batch (or finds it changed); a write after a
                # batch started restores it (the rollback)
                if forward_done.get(run):
                    rollback_from.setdefault(run, event["seq"])
            elif event.get("vm") in forward_done.get(run, set()):
                rollback_from.setdefault(run, event["seq"])   # a VM written again in one run: the rollback
        elif event["type"] == "instance_upgrade_start" and event.get("operation") in CHANGE_OPERATIONS \
                and event.get("instance_id") in names:
            change = {"name": event["instance_id"], "start_seq": event["seq"], "start": event["time"], "run": run,
                      "end_seq": None, "end": None, "result": None,
                      "direction": "back" if run in rollback_from else "forward"}
            if change["direction"] == "forward":
                forward_done.setdefault(run, set()).add(change["name"])
            out.append(change)
            open_by[change["name"]] = change
        elif event["type"] == "instance_upgrade_end" and event.get("instance_id") in open_by:
            change = open_by.pop(event["instance_id"])
            change.update(end_seq=event["seq"], end=event["time"], result=event["result"])
    for change in out:
        run = runs[change["run"]]
        if change["end"] is not None and change["end"] > run.end and not run.killed:
            change.update(end_seq=None, end=None, result=None)   # still changing when its play ended
        elif change["direction"] == "forward" and change["end"] is not None \
                and change["end"] - change["start"] > plan["wait_timeout"]:
            change["result"] = "timed_out"
    return out


def colleague_write(facts: dict) -> int | None:
    """The seq of the colleague's write: the last model write before its edit returned."""
    when = (facts["colleague"] or {}).get("time")
    if when is None:
        return None
    writes = [e for e in facts["events"] if e["type"] == "model_write" and e["time"] <= when]
    return writes[-1]["seq"] if writes else None


def _domain(plan: dict, row: dict):
    """The placement a batch may not cross, by the plan: (zone, fault domain), an update domain, or a zone."""
    if plan["batch_by"] == "update_domain":
        return row.get("update_domain")
    if plan["batch_by"] == "fault_domain" and plan["batch"] == "update_domain":
        return (row.get("zone"), row.get("fault_domain"))
    return row.get("zone")


def judge(facts: dict, report: Report) -> None:
    plan, events, runs = facts["plan"], facts["events"], facts["runs"]
    ids = sorted(facts["initial"])
    placement = facts["initial"]
    timeline = changes(facts)
    final_run, final = len(runs) - 1, runs[-1]
    result = facts["result"] or {}

    # ---- at any moment, the members changing belong to one printed batch, one domain, at most the batch size
    overlap, domains, twice = [], [], []
    by_seq = dict((c["start_seq"], c) for c in timeline)
    ends = dict((c["end_seq"], c) for c in timeline if c["end_seq"] is not None)
    plans = [printed_plan(run.output) for run in runs]
    in_flight: dict[str, dict] = {}
    for event in events:
        if event["seq"] in by_seq:
            change = by_seq[event["seq"]]
            in_flight[change["name"]] = change
            if change["direction"] == "forward":
                batch_of = plans[change["run"]]
                batches = set(batch_of.get(c["name"], -1) for c in in_flight.values() if c["direction"] == "forward")
                if len(batches) > 1 or -1 in batches:
                    overlap.append("%s started while %s were changing (printed batches %s)" % (
                        change["name"], ", ".join(sorted(set(in_flight) - {change["name"]})) or "none",
                        sorted(batches)))
            # the forward batches only: the rollback brings back what it changed in one call, by design (as the
            # Uniform rollback does)
            ahead = [name for name, c in in_flight.items() if c["direction"] == "forward"]
            places = set(_domain(plan, placement[name]) for name in ahead)
            size = plan["batch"] if isinstance(plan["batch"], int) else len(ids)
            if len(places) > 1 or len(ahead) > size:
                domains.append("%s in flight at once (%s)" % (", ".join(sorted(ahead)), sorted(map(str, places))))
        elif event["seq"] in ends:
            in_flight.pop(ends[event["seq"]]["name"], None)
    report.check("no batch starts while an earlier one is changing (members in flight are of one printed batch)",
                 not overlap, "; ".join(overlap[:3]))
    report.check("never two %s in flight, never more than the batch" % (
        "update domains" if plan["batch_by"] == "update_domain" else "zones / fault domains"), not domains,
        "; ".join(domains[:3]))
    last: dict[str, dict] = {}
    for change in timeline:
        # the same way as its last change, which did not fail (a rerun goes on with the members not yet on the new
        # version; a rollback in between makes the member outdated again)
        earlier = last.get(change["name"])
        if earlier is not None and earlier["direction"] == change["direction"] and earlier["result"] != "failed":
            twice.append("%s changed %s twice (the first %s)" % (change["name"], change["direction"],
                                                                 earlier["result"] or "still running"))
        last[change["name"]] = change
    report.check("no member changed twice in one direction", not twice, "; ".join(twice))
    if runs[0].killed_at:
        # the killed run's worker lives on in its own session: it may finish the batch in flight (a VM group's batch
        # is one extension write per VM, sent one after the other), never write again
        rerun = runs[1].first_seq if len(runs) > 1 else 1 << 62
        started = [c for c in timeline if c["run"] == 0 and c["start"] <= runs[0].killed_at]
        in_flight = set(name for name, number in plans[0].items()
                        if started and number == plans[0].get(started[-1]["name"]))
        written, after = set(), []
        for event in events:
            if event["type"] != "model_write" or event["seq"] >= rerun or event["seq"] == colleague_write(facts):
                continue
            if event["time"] > runs[0].killed_at and (event.get("vm") not in in_flight - written):
                after.append("%s %s" % (event["operation"], event.get("vm") or event.get("vmss")))
            written.add(event.get("vm"))
        report.check("nothing written after the controller was killed", not after, "written after: %s" % after)
    if plan["lock"]:
        touched = [c for c in timeline if c["name"] == plan["lock"]]
        writes = [e for e in events if e["type"] == "model_write" and e.get("vm") == plan["lock"]]
        report.check("the locked member is never written", not touched and not writes,
                     "%d change(s), %d write(s) of %s" % (len(touched), len(writes), plan["lock"]))

    # ---- the threshold after every batch, from the emulator's settled states; nothing forward after a breach
    breach_at: dict[int, str] = {}
    breach_seq: dict[int, int] = {}
    breach_problems = []
    for run_index, run in enumerate(runs):
        groups: list[list[dict]] = []
        for change in (c for c in timeline if c["run"] == run_index and c["direction"] == "forward"):
            number = plans[run_index].get(change["name"])
            if groups and plans[run_index].get(groups[-1][0]["name"]) == number:
                groups[-1].append(change)
            else:
                groups.append([change])
        # the whole-group check before starting (a rerun finds what the killed run left), judged once the changes
        # still running from that run have ended, as the engine waits for them
        point = run.first_seq + 1
        for change in timeline:
            if change["start_seq"] < run.first_seq and (change["end_seq"] or 0) > run.first_seq:
                point = max(point, change["end_seq"] + 1)
        sick = [i for i, (h, p) in lib.state_at(events, point, ids).items() if lib.is_unhealthy(h, p)]
        if len(sick) * 100 > plan["max_unhealthy_percent"] * len(ids):
            breach_at[run_index] = "%d of %d members unhealthy before starting (%s)" % (
                len(sick), len(ids), ", ".join(sick))
            breach_seq[run_index] = run.first_seq
            if groups:
                breach_problems.append("run %d: a batch started though the group was unhealthy before starting"
                                       % (run_index + 1))
            continue
        attempted: list[dict] = []
        for number, group in enumerate(groups):
            attempted += group
            bad = sorted(set(c["name"] for c in attempted if _ended_badly(events, c)))
            tried = set(c["name"] for c in attempted)
            reason = ""
            if bad and len(bad) * 100 > plan["max_unhealthy_upgraded_percent"] * len(tried):
                reason = "%d of %d changed unhealthy after batch %d (%s)" % (len(bad), len(tried), number + 1,
                                                                             ", ".join(bad))
            hung = [c["name"] for c in group if c["result"] in (None, "timed_out") and not run.killed]
            if not reason and hung:
                reason = "batch %d did not finish (%s still changing)" % (number + 1, ", ".join(hung))
            if not reason and number + 1 < len(groups):
                # what the engine judged before the next batch: the members once this batch settled
                whole = lib.state_at(events, max(_settled_seq(events, c) for c in group) + 1, ids)
                sick = [i for i, (h, p) in whole.items() if lib.is_unhealthy(h, p)]
                if len(sick) * 100 > plan["max_unhealthy_percent"] * len(ids):
                    reason = "%d of %d members unhealthy before batch %d (%s)" % (
                        len(sick), len(ids), number + 2, ", ".join(sick))
            if reason:
                breach_at[run_index] = reason
                breach_seq[run_index] = max(c["start_seq"] for c in group)
                if number + 1 < len(groups):
                    breach_problems.append("run %d: batch %d started after: %s" % (run_index + 1, number + 2, reason))
                break
    report.check("no batch after a breach", not breach_problems, "; ".join(breach_problems))
    late = []
    for run_index, seq in breach_seq.items():
        end = runs[run_index + 1].first_seq if run_index + 1 < len(runs) else 1 << 62
        late += ["%s %s" % (e["operation"], e.get("vm") or e.get("vmss")) for e in events
                 if e["type"] == "model_write" and seq < e["seq"] < end and e["seq"] != colleague_write(facts)]
    if plan["rollback"]:
        back = [c for c in timeline if c["direction"] == "back"]
        forward_names = set(c["name"] for c in timeline if c["direction"] == "forward")
        stray = sorted(set(c["name"] for c in back) - forward_names)
        report.check("after a breach, only the rollback writes, and only to members the rollout changed",
                     not stray, "also %s" % stray)
    else:
        back = [c["name"] for c in timeline if c["direction"] == "back"]
        report.check("nothing written after a breach without rollback", not back and not late,
                     "after the breach: members changed again %s, writes %s" % (back, late))

    # ---- outcome: status, lists and exit status equal the events
    breached = final_run in breach_at
    forward = [c for c in timeline if c["direction"] == "forward" and c["run"] == final_run]
    back = [c for c in timeline if c["direction"] == "back" and c["run"] == final_run]
    ev_upgraded = sorted(set(c["name"] for c in forward if c["result"] == "succeeded"))
    ev_failed = sorted(set(c["name"] for c in forward if c["result"] != "succeeded") - set(ev_upgraded))
    ev_back = sorted(set(c["name"] for c in back if c["result"] == "succeeded"))
    outcome = "breach: %s" % breach_at[final_run] if breached else "no breach"
    report.check("exit status matches the outcome", (final.rc != 0) == breached,
                 "rc %s; events: %s; %s" % (final.rc, outcome, lib.failure_line(final.output)))
    if report.check("the play printed rolling_upgrade_result", bool(result) or not forward,
                    "no result (rc %s): %s" % (final.rc, lib.tail(final.output))) and result:
        report.check("summary: upgraded equals the events", sorted(result.get("upgraded") or []) == ev_upgraded,
                     "result %s, events %s" % (result.get("upgraded"), ev_upgraded))
        got_failed = sorted(f["instance_id"] for f in result.get("failed") or [])
        report.check("summary: failed equals the events", got_failed == ev_failed,
                     "result %s, events %s" % (got_failed, ev_failed))
        report.check("summary: rolled back equals the events", sorted(result.get("rolled_back") or []) == ev_back,
                     "result %s, events %s" % (result.get("rolled_back"), ev_back))
        status = result.get("status")
        report.check("summary: status matches the events",
                     status in ("breached", "rolled_back") if breached else status == "completed",
                     "status %r; events: %s" % (status, outcome))
        if status == "rolled_back":
            report.check("summary: rolled_back only when every changed member came back",
                         set(ev_back) >= set(ev_upgraded) | set(ev_failed) - _never_changed(forward),
                         "back %s of %s" % (ev_back, sorted(set(ev_upgraded) | set(ev_failed))))
        if plan["lock"]:
            skipped = [s["instance_id"] for s in result.get("skipped") or []]
            report.check("summary: the locked member is skipped", plan["lock"] in skipped or not forward,
                         "skipped %s" % skipped)

    # ---- the final state: converged without a breach, restored after one with rollback
    rows = dict((m["instance_id"], m) for m in facts["members"])
    movable = [name for name in ids if name != plan["lock"]]
    model = facts["model"]
    if plan["target"] == "flexible":
        on_new = [name for name in movable if rows[name].get("image_version") == NEW]
        model_new = model == NEW
    else:
        on_new = [name for name in movable if model.get(name) == "v2"]
        model_new = None
    if not breached:
        # a failed change within the threshold is tolerated (and listed as failed): it need not end on the new one
        tried = set(c["name"] for c in timeline if c["direction"] == "forward")
        left = [name for name in movable if name not in on_new and name not in tried]
        report.check("without a breach every member not locked was changed or is on the new version", not left,
                     "never changed and not on the new version: %s" % left)
    elif plan["rollback"]:
        # the rollback brings back what its run changed (an earlier, killed run's changes are not known to it)
        touched = sorted(set(c["name"] for c in forward))
        earlier = sorted(set(on_new) - set(touched))
        if earlier:
            report.notes.append("left on the new version by an earlier (killed) run: %s" % ", ".join(earlier))
        if plan["target"] == "flexible":
            report.check("a breach with rollback restores the set's model", not model_new, "model image %s" % model)
            report.check("a breach with rollback brings back every member its run changed",
                         not set(on_new) & set(touched), "still on %s: %s" % (NEW, sorted(set(on_new) & set(touched))))
        else:
            still = [name for name in touched if model.get(name) != "v1"]
            report.check("a breach with rollback puts the previous extension back on every VM it changed",
                         not still, "extension release: %s" % dict((n, model.get(n)) for n in touched))
            running = dict((name, app_release(rows[name])) for name in touched if rows[name].get("running"))
            report.check("the VMs rolled back run the previous release",
                         all(value == "v1" for value in running.values()), "apps run %s" % running)
    if plan["lock"] and plan["target"] == "vm_group":
        report.check("the locked VM keeps its extension", model.get(plan["lock"]) == "v1",
                     "release %s" % model.get(plan["lock"]))
    if facts["colleague"]:
        tags = facts["colleague_tags"] or {}
        report.check("a colleague's edit survives (tag)", tags.get(COLLEAGUE_TAG[0]) == COLLEAGUE_TAG[1],
                     "tags now %s" % tags)


def _never_changed(forward: list) -> set:
    """Members whose forward change never started on the machine (refused), which a rollback need not bring back."""
    return set(c["name"] for c in forward if c["result"] == "failed" and c["end_seq"] is None)


def _settled_seq(events: list, change: dict) -> int:
    for event in events:
        if event["seq"] > change["end_seq"] and event["type"] == "health_change" \
                and event.get("instance_id") == change["name"] and event["to"] in ("healthy", "unhealthy"):
            return event["seq"]
    return change["end_seq"]


def _ended_badly(events: list, change: dict) -> bool:
    if change["result"] != "succeeded":
        return True
    return lib.settled_health(events, change["name"], change["end_seq"])[0] == "unhealthy"
