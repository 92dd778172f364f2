"""Bad engine options fail with one clear message naming the option, before anything is read or written.

One ansible-playbook run checks every case: each case includes the role's validate.yml with its own options
and records the failure message."""
from __future__ import annotations

import json

import yaml

CASES = {
    "zero": ({"rolling_upgrade_batch": 0}, "rolling_upgrade_batch must be"),
    "zero percent": ({"rolling_upgrade_batch": "0%"}, "rolling_upgrade_batch must be"),
    "over 100 percent": ({"rolling_upgrade_batch": "150%"}, "rolling_upgrade_batch must be"),
    "word": ({"rolling_upgrade_batch": "fault_domain"}, "rolling_upgrade_batch must be"),
    "empty ramp": ({"rolling_upgrade_batch": []}, "rolling_upgrade_batch must be"),
    "bad ramp step": ({"rolling_upgrade_batch": [1, "x"]}, "rolling_upgrade_batch must be"),
    "threshold": ({"rolling_upgrade_max_unhealthy_percent": 101}, "rolling_upgrade_max_unhealthy_percent must be"),
    "upgraded threshold": ({"rolling_upgrade_max_unhealthy_upgraded_percent": -1},
                           "rolling_upgrade_max_unhealthy_upgraded_percent must be"),
    "timeout": ({"rolling_upgrade_health_timeout": 0}, "rolling_upgrade_health_timeout must be"),
    "negative bake": ({"rolling_upgrade_bake_seconds": -5}, "must not be negative"),
    "http url": ({"rolling_upgrade_http_url": "http://{private_ip:8080/health"}, "rolling_upgrade_http_url must be"),
    "drain url": ({"rolling_upgrade_drain_url": "http://{private ip}/drain"}, "rolling_upgrade_drain_url must be"),
    "not a url": ({"rolling_upgrade_http_url": "nope"},
                  'rolling_upgrade_http_url must be an http:// or https:// URL with a host, such as'),
    "missing health tasks": ({"rolling_upgrade_health_tasks": "/nonexistent/checks.yml"},
                             "rolling_upgrade_health_tasks must name an existing task file"),
    "prefix of the calling role": ({"rolling_upgrade_batch": "0", "rolling_upgrade_option_prefix": "image_rollout_"},
                                   "image_rollout_batch must be"),
}
VALID = {"update domain": {"rolling_upgrade_batch": "update_domain"},
         "urls by name and id": {"rolling_upgrade_http_url": "https://{private_ip}/health?id={instance_id}",
                                 "rolling_upgrade_drain_url": "http://10.0.0.1/drain/{name}"}, "count": {"rolling_upgrade_batch": 3},
         "count as text": {"rolling_upgrade_batch": "3"}, "percent": {"rolling_upgrade_batch": "100%"},
         "ramp": {"rolling_upgrade_batch": [1, "10%", "25%"]}}


def test_every_bad_option_is_refused_with_its_name(fresh_emulator, run_playbook, tmp_path, repo_root):
    emulator = fresh_emulator
    emulator.reset_requests()
    results = tmp_path / "results.json"
    case_file = tmp_path / "case.yml"
    case_file.write_text(yaml.safe_dump([{
        "name": "Check one case",
        "block": [
            {"name": "Load the case's options", "ansible.builtin.include_vars": "{{ case.value }}"},
            {"name": "Validate", "ansible.builtin.include_role": {
                "name": "vmss.rollout.rolling_upgrade", "tasks_from": "validate.yml"}},
            {"name": "Record a pass", "ansible.builtin.set_fact": {
                "messages": "{{ messages | combine({case.key: ''}) }}"}}],
        "rescue": [{"name": "Record the failure", "ansible.builtin.set_fact": {
            "messages": "{{ messages | combine({case.key: ansible_failed_result.msg}) }}"}}],
    }]))
    # Every case file sets every option (the role's defaults plus the case's own), because included vars
    # outlive the loop iteration that loaded them.
    defaults = yaml.safe_load((repo_root / "roles" / "rolling_upgrade" / "defaults" / "main.yml").read_text())
    defaults.update(rolling_upgrade_resource_group="rg", rolling_upgrade_name="web",
                    rolling_upgrade_option_prefix="rolling_upgrade_")
    cases = {}
    for index, (name, options) in enumerate([(n, o) for n, (o, _expected) in CASES.items()] + list(VALID.items())):
        path = tmp_path / f"case_{index}.yml"
        path.write_text(yaml.safe_dump(dict(defaults, **options)))
        cases[name] = str(path)
    play = [{"name": "Validation cases", "hosts": "localhost", "gather_facts": False,
             "vars": {"messages": {}, "cases": cases},
             "tasks": [{"name": "Run each case", "ansible.builtin.include_tasks": str(case_file),
                        "loop": "{{ cases | dict2items }}", "loop_control": {"loop_var": "case"}},
                       {"name": "Save", "ansible.builtin.copy": {
                           "content": "{{ messages | to_json }}", "dest": str(results)}}]}]

    run = run_playbook(yaml.safe_dump(play))

    assert run.rc == 0, run.output
    messages = json.loads(results.read_text())
    for name, (_options, expected) in CASES.items():
        assert expected in messages[name], (name, messages[name])
    for name in VALID:
        assert messages[name] == "", (name, messages[name])
    assert emulator.requests()["total"] == 0


def test_a_misspelt_option_is_refused_not_ignored(fresh_emulator, run_playbook, tmp_path):
    """argument_specs never sees a variable the role does not have: image_rollout_batchsize (for image_rollout_batch)
    would be ignored and every instance rolled at the default batch size. It is refused before any Azure call, under
    the role the user called; names the roles set themselves (image_rollout_model, rolling_upgrade_result) are not
    options and pass."""
    emulator = fresh_emulator
    emulator.reset_requests()
    results = tmp_path / "results.json"
    wrappers = {"misspelt": {"image_rollout_batchsize": 2, "rolling_upgrade_result": {}},
                "engine misspelt": {"rolling_upgrade_dran": True, "rolling_upgrade_option_prefix": "rolling_upgrade_"},
                "set by the roles": {"image_rollout_model": {}, "rolling_upgrade_result": {}},
                # variables of the user's own that only share the prefix are not near misses of an option
                "own variables": {"image_rollout_image_version": "2.0.0", "image_rollout_item": 1,
                                  "rolling_upgrade_policy": "Manual"}}
    plays = [{"name": f"Case {name}", "hosts": "localhost", "gather_facts": False, "vars": variables, "tasks": [{
        "name": "Validate", "block": [
            {"name": "Validate", "ansible.builtin.include_role": {"name": "vmss.rollout.rolling_upgrade",
                                                                  "tasks_from": "validate.yml"},
             "vars": {"rolling_upgrade_option_prefix": variables.get("rolling_upgrade_option_prefix",
                                                                     "image_rollout_"),
                      "rolling_upgrade_resource_group": "rg", "rolling_upgrade_name": "web"}},
            {"name": "Record a pass", "ansible.builtin.set_fact": {"message": ""}}],
        "rescue": [{"name": "Record the failure",
                    "ansible.builtin.set_fact": {"message": "{{ ansible_failed_result.msg }}"}}],
        "always": [{"name": "Save", "ansible.builtin.lineinfile": {
            "path": str(results), "create": True, "line": "{{ {'%s': message} | to_json }}" % name}}]}]}
        for name, variables in wrappers.items()]
    # the VM group entry point checks the same, under the wrapper that called it
    plays.append({"name": "Case vm_group", "hosts": "localhost", "gather_facts": False,
                  "vars": {"extension_rollout_bach": 1}, "tasks": [{"name": "Roll", "block": [
                      {"name": "Roll", "ansible.builtin.include_role": {"name": "vmss.rollout.rolling_upgrade",
                                                                        "tasks_from": "vm_group"},
                       "vars": {"rolling_upgrade_option_prefix": "extension_rollout_",
                                "rolling_upgrade_resource_group": "rg", "rolling_upgrade_virtual_machines": ["db-1"],
                                "rolling_upgrade_extension": {"name": "app", "publisher": "p", "type": "t",
                                                              "type_handler_version": "1.0"}}},
                      {"name": "Record a pass", "ansible.builtin.set_fact": {"message": ""}}],
                      "rescue": [{"name": "Record the failure",
                                  "ansible.builtin.set_fact": {"message": "{{ ansible_failed_result.msg }}"}}],
                      "always": [{"name": "Save", "ansible.builtin.lineinfile": {
                          "path": str(results), "create": True,
                          "line": "{{ {'vm_group': message} | to_json }}"}}]}]})

    run = run_playbook(yaml.safe_dump(plays))

    assert run.rc == 0, run.output
    messages = {}
    for line in results.read_text().splitlines():
        messages.update(json.loads(line))
    assert messages["misspelt"] == (
        "image_rollout_batchsize is not an option of the vmss.rollout.image_rollout role (did you mean "
        "image_rollout_batch?); a misspelt option would be ignored. Rename a variable of your own that is not meant "
        "as one."), messages
    assert messages["engine misspelt"].startswith("rolling_upgrade_dran is not an option of the "
                                                  "vmss.rollout.rolling_upgrade role (did you mean "
                                                  "rolling_upgrade_drain?)"), messages
    assert messages["set by the roles"] == "", messages
    assert messages["own variables"] == "", messages
    assert messages["vm_group"].startswith("extension_rollout_bach is not an option of the "
                                           "vmss.rollout.extension_rollout role (did you mean "
                                           "extension_rollout_batch?)"), messages
    assert emulator.requests()["total"] == 0
