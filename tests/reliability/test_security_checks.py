"""Security checks: secrets never leak, hostile credentials fail once and write nothing, TLS stays on.

Every check runs the collection's modules through ansible-playbook (real azure-identity and azure-mgmt-compute over
HTTPS against the emulator). Failing cases share one playbook (one task each, `ignore_errors`) to keep the suite fast.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import stat
import time
from pathlib import Path

import pytest
import yaml

from reliability_helpers import HEALTH_EXTENSION, NEW_VERSION, RG, VMSS, image, scenario

REPO = Path(__file__).resolve().parents[2]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")
OTHER_SUBSCRIPTION = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"


def save_results_task(names: list[str], dest: Path) -> dict:
    content = "{{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}"
    return {"name": "Save every result", "ansible.builtin.copy": {"content": content, "dest": str(dest)},
            "check_mode": False, "diff": False}


def leaks(text: str, needles: dict[str, str]) -> list[str]:
    found = [label for label, needle in needles.items() if needle and needle in text]
    if JWT.search(text):
        found.append("a JWT (eyJ...)")
    return found


def test_secrets_never_appear_in_output_returns_diffs_events_or_log(fresh_emulator, run_playbook, sdk, tmp_path):
    emulator = fresh_emulator
    scenario_secret = f"scenario-{secrets.token_hex(8)}"
    task_secret = f"task-{secrets.token_hex(8)}"
    world = scenario(capacity=2, extensions=[
        HEALTH_EXTENSION,
        {"name": "bootstrap", "properties": {
            "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
            "settings": {"fileUris": []}, "protectedSettings": {"commandToExecute": f"echo {scenario_secret}"},
            "provisionAfterExtensions": ["health"]}},
    ])
    emulator.load_scenario(world)
    # A real token, to be sure the JWT pattern below would catch one.
    token = sdk._config.credential.get_token(*sdk._config.credential_scopes).token
    assert JWT.search(token), "the leak search would not recognise the emulator's tokens"

    results_file = tmp_path / "results.json"
    target = {"resource_group": RG, "name": VMSS}
    play = [{
        "name": "Everything that touches a secret, at -vvv with --diff",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            {"name": "Extension with protected settings", "register": "ext",
             "vmss.rollout.vmss_extension_sequence": {**target, "extensions": [{
                 "name": "app", "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                 "type_handler_version": "2.1", "settings": {"fileUris": []},
                 "protected_settings": {"commandToExecute": f"echo {task_secret}"},
                 "provision_after": ["health"]}]}},
            {"name": "New image", "register": "img",
             "vmss.rollout.vmss_model_image": {**target, "image": image(NEW_VERSION), "poll_interval": 1}},
            {"name": "Upgrade", "register": "upg",
             "vmss.rollout.vmss_instance_upgrade": {**target, "poll_interval": 1, "wait_for_health": True,
                                                    "health_timeout": 30}},
            {"name": "Info, with the client secret passed as an option", "register": "info",
             "vmss.rollout.vmss_info": {**target, "secret": "{{ lookup('ansible.builtin.env', 'AZURE_SECRET') }}"}},
            save_results_task(["ext", "img", "upg", "info"], results_file),
        ],
    }]

    result = run_playbook(yaml.safe_dump(play, sort_keys=False), diff=True, verbosity=3)

    assert result.rc == 0, result.output[-5000:]
    returns = json.loads(results_file.read_text())
    assert returns["ext"]["changed"] and returns["upg"]["changed"]
    needles = {"client secret": emulator.env["AZURE_SECRET"], "task protected setting": task_secret,
               "scenario protected setting": scenario_secret, "the token we fetched": token}
    haystacks = {
        "ansible output (-vvv --diff)": result.output,
        "module returns": results_file.read_text(),
        "emulator events": json.dumps(emulator.events()),
        "emulator log": Path(emulator.log_path).read_text(errors="replace"),
    }
    problems = {where: found for where, text in haystacks.items() if (found := leaks(text, needles))}
    assert not problems, f"secrets leaked: {problems}"


def write_fake_az(bin_dir: Path, token: str) -> None:
    """An `az` that hands out a token it claims is valid for an hour (a stale CLI cache, or clock skew)."""
    bin_dir.mkdir()
    answer = {"accessToken": token, "expires_on": int(time.time()) + 3600,
              "expiresOn": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.localtime(time.time() + 3600)),
              "tokenType": "Bearer", "subscription": "unused", "tenant": "unused"}
    (bin_dir / "answer.json").write_text(json.dumps(answer))
    script = bin_dir / "az"
    script.write_text(f"#!/bin/sh\ncat '{bin_dir / 'answer.json'}'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_hostile_credentials_fail_once_with_a_clear_error_and_write_nothing(fresh_emulator, run_playbook, sdk,
                                                                            ansible_env, tmp_path):
    emulator = fresh_emulator
    world = scenario(capacity=2)
    limited = {"tenant": emulator.env["AZURE_TENANT"], "client_id": "5d0c3c6e-7a7e-4b43-9d8e-000000000001",
               "secret": f"limited-{secrets.token_hex(8)}", "subscriptions": [OTHER_SUBSCRIPTION]}
    world["principals"] = [limited]
    emulator.load_scenario(world)

    # An expired token: issued with a one-second lifetime, then left to age.
    emulator.set_faults([{"kind": "token_lifetime", "seconds": 1}])
    expired = sdk._config.credential.get_token(*sdk._config.credential_scopes).token
    emulator.clear_faults()
    time.sleep(2.5)
    fake_az = tmp_path / "fake-az"
    write_fake_az(fake_az, expired)

    http_url = emulator.url.replace("https://", "http://", 1)
    cases = {
        "wrong_secret": {"environment": {"AZURE_SECRET": "not-the-secret"}},
        # the secret comes from the controller's environment, as AWX injects it; a literal in the playbook
        # would be echoed by ansible-core itself when it quotes the failing task's source
        "no_rights": {"environment": {"AZURE_CLIENT_ID": limited["client_id"],
                                      "AZURE_SECRET": "{{ lookup('ansible.builtin.env', 'LIMITED_SECRET') }}"}},
        "expired_token": {"environment": {"ANSIBLE_AZURE_AUTH_SOURCE": "cli",
                                          "PATH": f"{fake_az}{os.pathsep}{ansible_env['PATH']}"}},
        "no_ca_bundle": {"environment": {
            "REQUESTS_CA_BUNDLE": "", "AZURE_CA_BUNDLE": "", "CURL_CA_BUNDLE": "", "PYTHONHTTPSVERIFY": "0",
            "AZURE_CLI_DISABLE_CONNECTION_VERIFICATION": "1"}},
        "http_endpoint": {"environment": {"AZURE_CLOUD_ENVIRONMENT": http_url}},
        "validate_certs_option": {"extra": {"validate_certs": False}},
        "cert_validation_mode_option": {"extra": {"cert_validation_mode": "ignore"}},
    }
    results_file = tmp_path / "results.json"
    tasks = []
    for name, case in cases.items():
        task = {"name": f"Case {name}", "register": name, "ignore_errors": True,
                "vmss.rollout.vmss_model_image": {"resource_group": RG, "name": VMSS, "image": image(NEW_VERSION),
                                                  **case.get("extra", {})}}
        if "environment" in case:
            task["environment"] = case["environment"]
        tasks.append(task)
    tasks.append(save_results_task(list(cases), results_file))
    emulator.reset_requests()
    emulator.clear_events()   # loading the scenario wrote the model; count only the cases' writes

    result = run_playbook(yaml.safe_dump([{"name": "Hostile input", "hosts": "localhost", "gather_facts": False,
                                           "tasks": tasks}], sort_keys=False),
                          env={"LIMITED_SECRET": limited["secret"]})

    assert emulator.requests()["writes"] == 0
    assert emulator.events("model_write") == []
    outcomes = json.loads(results_file.read_text())
    expectations = {
        "wrong_secret": r"invalid_client|AADSTS7000215",
        "no_rights": r"AuthorizationFailed",
        "expired_token": r"ExpiredAuthenticationToken",
        "no_ca_bundle": r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSL",
        "http_endpoint": r"cloud_environment.*https",
        "validate_certs_option": r"[Uu]nsupported parameters.*validate_certs",
        # azure.azcollection's option is explained, not reported as unknown
        "cert_validation_mode_option": r"cert_validation_mode .ignore. is not supported: TLS certificates are always "
                                       r"verified.*ca_bundle",
    }
    for name, pattern in expectations.items():
        outcome = outcomes[name]
        msg = str(outcome.get("msg", ""))
        assert outcome.get("failed") is True, f"{name}: did not fail: {outcome}"
        assert re.search(pattern, msg, re.S), f"{name}: unclear message: {msg!r}"
        assert "Traceback" not in msg and "module_stderr" not in outcome, f"{name}: a traceback: {outcome}"
        assert msg.count("\n") <= 2, f"{name}: more than one clear sentence: {msg!r}"
    # one failure per case, nothing else failed
    assert result.output.count("FAILED!") == len(cases), result.output[-5000:]
    for needle in (limited["secret"], expired, emulator.env["AZURE_SECRET"]):
        assert needle not in result.output


def test_no_code_path_turns_tls_verification_off():
    """The collection never disables certificate checks (the runtime checks are in the test above)."""
    offenders = []
    patterns = re.compile(r"verify\s*=\s*False|connection_verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False|"
                          r"_create_unverified_context")
    for path in (REPO / "plugins").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if patterns.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_hostile_cloud_metadata_gets_no_token_and_no_client_secret(fresh_emulator, run_playbook, tmp_path):
    """cloud_environment names a server of ours that answers hostile metadata documents: no token and no client
    secret may leave toward any other host (counted at those hosts), and no token is even asked for."""
    trustme = pytest.importorskip("trustme")
    from hostile_https import HostileServer, write_bundle

    emulator = fresh_emulator
    emulator.load_scenario(scenario(capacity=1))
    ca = trustme.CA()
    bundle = write_bundle(tmp_path / "bundle.pem", emulator.ca_path, ca.cert_pem.bytes())
    secret = emulator.env["AZURE_SECRET"]
    with HostileServer(ca, host_name="localhost") as foreign, HostileServer(ca, host_name="localhost") as trusted, \
            HostileServer(None) as plain, HostileServer(ca) as metadata:
        def entry(resource_manager, login):
            return {"name": "Hostile", "resourceManager": resource_manager,
                    "authentication": {"loginEndpoint": login, "audiences": ["https://management.azure.com/"],
                                       "tenant": "common"}}

        replies = {
            # the token would be signed in for at the real sign-in, then sent to the foreign resource manager
            "/foreign_resource_manager/": (200, {}, entry(foreign.base + "/", emulator.url)),
            # an older api-version's list naming only foreign clouds: their sign-in endpoint would get the secret
            "/foreign_list/": (200, {}, [entry(foreign.base + "/", foreign.base)]),
            "/redirect_other_host/": (302, {"Location": foreign.base + "/metadata/endpoints"}, b""),
            "/redirect_http/": (302, {"Location": plain.base + "/metadata/endpoints"}, b""),
            # the explicit option lets the token go to a host the user trusts
            "/foreign_allowed/": (200, {}, entry(trusted.base + "/", trusted.base)),
        }
        metadata.answer = lambda handler: next(
            reply for prefix, reply in replies.items() if handler.path.startswith(prefix))
        cases = {name.strip("/"): {"AZURE_CLOUD_ENVIRONMENT": metadata.base + name.rstrip("/")} for name in replies}
        cases["foreign_allowed"]["AZURE_ALLOW_FOREIGN_RESOURCE_MANAGER"] = "true"
        results_file = tmp_path / "results.json"
        tasks = [{"name": f"Case {name}", "register": name, "ignore_errors": True, "environment": environment,
                  "vmss.rollout.vmss_model_image": {"resource_group": RG, "name": VMSS, "image": image(NEW_VERSION)}}
                 for name, environment in cases.items()]
        tasks.append(save_results_task(list(cases), results_file))
        emulator.reset_requests()
        emulator.clear_events()
        result = run_playbook(yaml.safe_dump([{"name": "Hostile metadata", "hosts": "localhost",
                                               "gather_facts": False, "tasks": tasks}], sort_keys=False),
                              env={"AZURE_CA_BUNDLE": str(bundle)})

    assert foreign.requests == [], f"requests reached the foreign host: {foreign.requests}"
    assert plain.requests == [], f"requests reached the plain-http host: {plain.requests}"
    # not even a sign-in at the real sign-in endpoint (the first case names it): nothing reached the emulator
    assert emulator.events("token_issued") == [] and emulator.requests()["total"] == 0
    # the allowed case went to the trusted host: the option is wired through, and it signed in there
    assert trusted.secrets_seen(secret) and any(r.headers.get("Authorization") for r in trusted.requests)
    outcomes = json.loads(results_file.read_text())
    metadata_host, foreign_host = metadata.base.split("//")[1], foreign.base.split("//")[1]
    expectations = {
        "foreign_resource_manager": ("resource manager", foreign_host, metadata_host, "allow_foreign_resource_manager"),
        "foreign_list": ("resource manager", foreign_host, metadata_host, "allow_foreign_resource_manager"),
        "redirect_other_host": ("redirected to", foreign_host, metadata_host),
        "redirect_http": ("redirected to", plain.base, metadata_host),
    }
    for name, needles in expectations.items():
        msg = str(outcomes[name].get("msg", ""))
        assert outcomes[name].get("failed") is True, f"{name}: did not fail: {outcomes[name]}"
        assert all(n in msg for n in needles) and "refused" in msg, f"{name}: unclear message: {msg!r}"
        assert "\n" not in msg and "Traceback" not in msg, f"{name}: {msg!r}"
    assert outcomes["foreign_allowed"].get("failed") is True   # our trusted host answers 404 for the scale set
    assert secret not in result.output
