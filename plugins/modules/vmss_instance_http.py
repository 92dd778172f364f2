#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
module: vmss_instance_http
short_description: Send one HTTP request to each of many scale set instances at once (health checks, drain hooks)
version_added: 0.1.0
description:
  - Renders O(url) for every instance in O(instances) and requests all of them concurrently, each until it
    answers one of O(status_code) or O(retries) run out.
  - One task for a whole batch, instead of a loop of M(ansible.builtin.uri) with one module run per instance,
    so a check of hundreds of instances takes about as long as the slowest one.
  - Does not talk to Azure. Give it the O(instances) returned by M(vmss.rollout.vmss_info).
options:
  instances:
    description:
      - Instance summaries, as in the RV(vmss.rollout.vmss_info#module:instances) return of M(vmss.rollout.vmss_info).
      - Each needs C(instance_id) and the fields O(url) names.
    type: list
    elements: dict
    required: true
  url:
    description:
      - URL to request for each instance. C({field}) placeholders are replaced by that field of the instance
        summary, for example C(http://{private_ip}:8080/health).
      - An instance without a value for a placeholder is not requested and counts as failed.
    type: str
    required: true
  method:
    description:
      - HTTP method. V(GET) and V(HEAD) are sent in check mode too; the others are not.
    type: str
    default: GET
    choices: [GET, HEAD, POST, PUT, DELETE]
  status_code:
    description: Status codes that count as success.
    type: list
    elements: int
    default: [200]
  retries:
    description: Further attempts for an instance whose answer is not in O(status_code) (0 means one attempt).
    type: int
    default: 0
  delay:
    description: Seconds between attempts for one instance.
    type: float
    default: 3
  timeout:
    description: Seconds to wait for each answer.
    type: float
    default: 5
  concurrency:
    description: Requests in flight at once.
    type: int
    default: 32
  validate_certs:
    description: Verify TLS certificates of C(https) URLs.
    type: bool
    default: true
  fail_on_error:
    description:
      - Fail when any instance did not answer one of O(status_code). With V(false) the module only reports them
        in RV(failed_instances), for a caller that judges them against a threshold.
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check mode.
    support: partial
    details: V(GET) and V(HEAD) requests are sent in check mode (they change nothing); other methods are only reported.
  diff_mode:
    description: Nothing to diff.
    support: none
author:
  - vmss.rollout maintainers (@vmss-rollout)
"""

EXAMPLES = r"""
- name: Read the scale set
  vmss.rollout.vmss_info:
    resource_group: rg-demo
    name: web
  register: web

- name: Wait until every instance answers 200 on /health
  vmss.rollout.vmss_instance_http:
    instances: "{{ web.instances }}"
    url: "http://{private_ip}:8080/health"
    retries: 10
    delay: 3

# Drain one batch at a time (here update domain 0), never the whole scale set: the others keep serving.
- name: Ask the instances of update domain 0 to drain before upgrading them
  vmss.rollout.vmss_instance_http:
    instances: "{{ web.instances | selectattr('update_domain', 'equalto', 0) | list }}"
    url: "http://{private_ip}:8080/drain"
    method: POST
    status_code: [200, 202, 204]
    fail_on_error: false
"""

RETURN = r"""
results:
  description: One entry per instance, in the order of O(instances).
  returned: always
  type: list
  elements: dict
  sample:
    - {instance_id: "0", url: "http://10.0.0.4:8080/health", status: 200, ok: true, attempts: 1, msg: OK}
ok_instances:
  description: Ids of the instances that answered one of O(status_code).
  returned: always
  type: list
  elements: str
  sample: ["0", "5"]
failed_instances:
  description: Ids of the instances that did not (other status, no answer, or no value for a placeholder).
  returned: always
  type: list
  elements: str
  sample: ["3"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import probes

READ_ONLY_METHODS = ("GET", "HEAD")

ARGUMENT_SPEC = {
    "instances": {"type": "list", "elements": "dict", "required": True},
    "url": {"type": "str", "required": True},
    "method": {"type": "str", "default": "GET", "choices": ["GET", "HEAD", "POST", "PUT", "DELETE"]},
    "status_code": {"type": "list", "elements": "int", "default": [200]},
    "retries": {"type": "int", "default": 0},
    "delay": {"type": "float", "default": 3},
    "timeout": {"type": "float", "default": 5},
    "concurrency": {"type": "int", "default": 32},
    "validate_certs": {"type": "bool", "default": True},
    "fail_on_error": {"type": "bool", "default": True},
}


def validate(module):
    params = module.params
    for name, minimum in (("retries", 0), ("delay", 0), ("timeout", 0.001), ("concurrency", 1)):
        if params[name] < minimum:
            module.fail_json(msg="%s must be at least %s, got %s." % (name, minimum, params[name]))
    try:
        probes.template_fields(params["url"])
    except probes.UrlTemplateError as err:
        module.fail_json(msg="url %r is not a valid template: %s. Use {field} placeholders naming fields of the "
                             "instance summaries, such as {private_ip} or {instance_id}." % (params["url"], err))
    unnamed = [index for index, instance in enumerate(params["instances"]) if "instance_id" not in instance]
    if unnamed:
        module.fail_json(msg="instances[%d] has no instance_id; pass the instances returned by vmss_info." % unnamed[0])


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    validate(module)
    params = module.params
    rendered = probes.render_urls(params["url"], params["instances"])
    sends = params["method"] not in READ_ONLY_METHODS
    if module.check_mode and sends:
        results = [{"instance_id": iid, "url": url, "status": None, "ok": url is not None, "attempts": 0,
                    "msg": "would send %s (check mode)" % params["method"]} for iid, url, dummy in rendered]
    else:
        send = probes.make_sender(params["method"], params["timeout"], params["validate_certs"])
        results = probes.probe_all(send, rendered, set(params["status_code"]), params["retries"],
                                   params["delay"], params["concurrency"])
    failed = [r["instance_id"] for r in results if not r["ok"]]
    outcome = {
        "changed": sends and bool(results),
        "results": results,
        "ok_instances": [r["instance_id"] for r in results if r["ok"]],
        "failed_instances": failed,
    }
    if failed and params["fail_on_error"]:
        module.fail_json(msg="%d of %d instance(s) did not answer %s: %s." % (
            len(failed), len(results), "/".join(str(code) for code in params["status_code"]),
            ", ".join("%s (%s)" % (r["instance_id"], r["status"] or r["msg"]) for r in results if not r["ok"])),
            **outcome)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
