"""Sign-in through the real azure-identity client: environment variables, ~/.azure/credentials profiles,
and clear errors for a wrong secret, a missing profile and a missing Azure CLI."""
from __future__ import annotations

from pathlib import Path

from core_helpers import core_step, run_steps, scale_set, scenario, writes

CLIENT_VARS = ("AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID")


def test_env_vars(fresh_emulator, run_playbook, tmp_path):
    fresh_emulator.load_scenario(scenario(scale_set("web", capacity=1)))
    out, _playbook = run_steps(run_playbook, fresh_emulator, [core_step("vmss_info", private_ips=False)], tmp_path)
    assert out[0]["result"]["vmss"]["name"] == "web", out[0]["result"].get("msg")
    assert out[0]["requests"]["token_requests"] == 1 and out[0]["requests"]["by_operation"]["Metadata_Endpoints"] == 1


def test_credentials_file_profiles(fresh_emulator, run_playbook, ansible_env, tmp_path):
    fresh_emulator.load_scenario(scenario(scale_set("web", capacity=1)))
    env = fresh_emulator.env
    good = "subscription_id = {s}\nclient_id = {c}\nsecret = {p}\ntenant = {t}\n".format(
        s=env["AZURE_SUBSCRIPTION_ID"], c=env["AZURE_CLIENT_ID"], p=env["AZURE_SECRET"], t=env["AZURE_TENANT"])
    wrong_secret = "not-the-secret-5e1f9a"
    creds = Path(ansible_env["HOME"]) / ".azure" / "credentials"
    creds.parent.mkdir(parents=True, exist_ok=True)
    creds.write_text("[default]\n" + good + "\n[staging]\n" + good
                     + "\n[broken]\n" + good.replace(env["AZURE_SECRET"], wrong_secret))
    for name in CLIENT_VARS:  # only the cloud endpoint and CA bundle stay in the environment
        ansible_env.pop(name, None)

    steps = [
        core_step("vmss_info", private_ips=False),                                   # [default] profile
        core_step("vmss_info", private_ips=False, profile="staging"),                # named profile
        core_step("vmss_info", private_ips=False, profile="broken"),                 # wrong secret
        core_step("vmss_info", private_ips=False, profile="missing"),                # no such profile
        core_step("vmss_info", private_ips=False, auth_source="cli"),                # no az on PATH
    ]
    out, res = run_steps(run_playbook, fresh_emulator, steps, tmp_path)
    r = [o["result"] for o in out]
    assert r[0]["vmss"]["name"] == "web", r[0].get("msg")
    assert r[1]["vmss"]["name"] == "web", r[1].get("msg")

    assert r[2]["failed"] and r[2]["msg"].startswith("Could not read scale set"), r[2]["msg"]
    assert "sign-in failed" in r[2]["msg"] and r[2]["error_code"]
    assert out[2]["requests"]["reads"] == 0 and writes(out[2]) == 0

    assert r[3]["failed"] and "profile 'missing' was not found in" in r[3]["msg"]
    assert out[3]["requests"]["total"] == 0
    assert r[4]["failed"] and "auth_source cli needs the Azure CLI (az)" in r[4]["msg"], r[4]["msg"]
    for text in (res.output, str(r)):
        assert wrong_secret not in text and env["AZURE_SECRET"] not in text


def test_module_defaults_for_the_action_group(fresh_emulator, run_playbook, ansible_env, tmp_path):
    """Credentials given once through module_defaults: group/vmss.rollout.vmss reach every Azure module of the
    group (the environment holds no client credentials, so nothing else could have signed in)."""
    fresh_emulator.load_scenario(scenario(scale_set("web", capacity=1)))
    env = fresh_emulator.env
    for name in CLIENT_VARS:
        ansible_env.pop(name, None)
    out = tmp_path / "module_defaults.json"
    play = f"""
    - hosts: localhost
      gather_facts: false
      module_defaults:
        group/vmss.rollout.vmss:
          subscription_id: {env["AZURE_SUBSCRIPTION_ID"]}
          client_id: {env["AZURE_CLIENT_ID"]}
          secret: "{{{{ lookup('ansible.builtin.env', 'GROUP_SECRET') }}}}"
          tenant: {env["AZURE_TENANT"]}
      tasks:
        - name: Read through the group's defaults
          vmss.rollout.vmss_info:
            resource_group: {scale_set("web")["resource_group"]}
            name: web
            private_ips: false
          register: info
        - name: Upgrade nothing through the group's defaults (every instance is current)
          vmss.rollout.vmss_instance_upgrade:
            resource_group: {scale_set("web")["resource_group"]}
            name: web
          register: upgrade
        - name: Keep what they returned
          ansible.builtin.copy:
            content: "{{{{ {{'info': info.vmss.name, 'changed': upgrade.changed}} | to_json }}}}"
            dest: {out}
    """
    result = run_playbook(play, env={"GROUP_SECRET": env["AZURE_SECRET"]})
    assert result.rc == 0, result.output
    assert out.read_text() == '{"info": "web", "changed": false}'


USER, USER_PASSWORD = "ops@contoso.example", "User-Pass-987-secret"


def test_ad_user_and_password_sign_in(fresh_emulator, run_playbook, ansible_env, tmp_path):
    """ad_user/password (azure.azcollection's and AWX's username/password credential), as options and as
    AZURE_AD_USER/AZURE_PASSWORD: azure-identity's UsernamePasswordCredential signs the user in with the password
    grant, its user realm discovery reaching the emulator on its own port; a wrong password is a clear sign-in
    error; the password is never shown."""
    env = fresh_emulator.env
    data = scenario(scale_set("web", capacity=1))
    data["principals"] = [{"tenant": env["AZURE_TENANT"], "client_id": USER, "secret": USER_PASSWORD,
                           "subscriptions": [env["AZURE_SUBSCRIPTION_ID"]]}]
    fresh_emulator.load_scenario(data)
    for name in CLIENT_VARS[:-1]:  # no service principal to fall back on; the subscription stays
        ansible_env.pop(name, None)
    fresh_emulator.clear_events()

    steps = [
        core_step("vmss_info", private_ips=False, ad_user=USER, password=USER_PASSWORD),
        core_step("vmss_info", private_ips=False, ad_user=USER, password="not-the-password-42"),
    ]
    out, res = run_steps(run_playbook, fresh_emulator, steps, tmp_path)
    ansible_env.update({"AZURE_AD_USER": USER, "AZURE_PASSWORD": USER_PASSWORD})
    from_env, env_run = run_steps(run_playbook, fresh_emulator, [core_step("vmss_info", private_ips=False)], tmp_path)

    r = [o["result"] for o in out]
    assert r[0]["vmss"]["name"] == "web", r[0].get("msg")
    assert out[0]["requests"]["by_operation"].get("UserRealm") == 1, out[0]["requests"]
    assert out[0]["requests"]["token_requests"] == 1
    assert r[1]["failed"] and "sign-in failed" in r[1]["msg"], r[1]["msg"]
    assert "invalid username or password" in r[1]["msg"], r[1]["msg"]
    assert out[1]["requests"]["reads"] == 0 and writes(out[1]) == 0
    assert from_env[0]["result"]["vmss"]["name"] == "web", from_env[0]["result"].get("msg")
    issued = [e for e in fresh_emulator.events() if e["type"] == "token_issued"]
    assert [e["client_id"] for e in issued] == [USER, USER]
    for text in (res.output, env_run.output, str(r), str(issued)):
        assert USER_PASSWORD not in text and "not-the-password-42" not in text
