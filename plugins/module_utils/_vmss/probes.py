# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP probes of many instances at once: URL rendering (pure) and a concurrent runner around a send function."""

from __future__ import annotations

__metaclass__ = type

import string
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import Request, make_context


class UrlTemplateError(ValueError):
    """The url option names a field that instance summaries do not have, or is malformed."""


def template_fields(url):
    """Names of the {field} placeholders in url; raises UrlTemplateError for a malformed template."""
    try:
        parsed = list(string.Formatter().parse(url))
    except ValueError as err:
        raise UrlTemplateError(str(err))
    fields = []
    for dummy, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field or spec or conversion or not field.isidentifier():
            raise UrlTemplateError("placeholder {%s} is not a plain field name" % field)
        fields.append(field)
    return fields


# The fields of an instance summary (instances.summarize), the only names a {field} placeholder can be filled from.
# The rolling_upgrade role checks its URLs with rollout_options.option_errors, which uses this list.
INSTANCE_FIELDS = ("instance_id", "id", "name", "update_domain", "fault_domain", "zone", "latest_model_applied",
                   "provisioning_state", "power_state", "health_state", "private_ip", "image", "protected", "tags",
                   "app_phase", "app_skip_upgrade", "protected_from_scale_in")


def unknown_fields(url):
    """The {field} placeholders of url that no instance summary has (a typo would render no URL for any instance)."""
    return [field for field in template_fields(url) if field not in INSTANCE_FIELDS]


def render_urls(url, instances):
    """[(instance_id, url, missing fields)] with each {field} replaced by that instance's value.

    An instance without a value for a field it needs (a missing private IP, say) gets url None and the fields it
    lacks, so the caller can report it instead of requesting a half-rendered address.
    """
    fields = template_fields(url)
    rendered = []
    for instance in instances:
        values = dict((field, instance.get(field)) for field in fields)
        missing = [field for field, value in values.items() if value in (None, "")]
        rendered.append((str(instance.get("instance_id")), None if missing else url.format(**values), missing))
    return rendered


def make_sender(method, timeout, validate_certs):
    """send(url) -> (status or None, message): one request with ``method``; never raises."""
    # One TLS context for every request: open_url builds one per call (~25 ms of CPU under the GIL), which made
    # 200 concurrent checks take seconds.
    request = Request(timeout=timeout, validate_certs=validate_certs, follow_redirects="safe", use_netrc=False,
                      context=make_context(validate_certs=validate_certs))

    def send(url):
        try:
            response = request.open(method, url)
            return response.getcode(), "OK"
        except HTTPError as err:
            return err.code, to_text(err.reason)
        except Exception as err:  # refused, reset, timed out, TLS: the instance did not answer
            return None, to_text(err)
    return send


def probe_until(send, url, accepted, retries, delay, sleep=time.sleep):
    """Call send(url) -> (status, msg) until status is accepted or retries run out. Returns a result dict."""
    attempts = 0
    while True:
        attempts += 1
        status, msg = send(url)
        ok = status in accepted
        if ok or attempts > retries:
            return {"url": url, "status": status, "ok": ok, "attempts": attempts, "msg": msg}
        sleep(delay)


def probe_all(send, rendered, accepted, retries, delay, concurrency, sleep=time.sleep):
    """Probe every rendered (instance_id, url, missing) concurrently; results in the input order."""
    def one(item):
        instance_id, url, missing = item
        if url is None:
            return {"instance_id": instance_id, "url": None, "status": None, "ok": False, "attempts": 0,
                    "msg": "no value for %s" % ", ".join(missing)}
        result = probe_until(send, url, accepted, retries, delay, sleep)
        result["instance_id"] = instance_id
        return result

    if not rendered:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(rendered)))) as pool:
        return list(pool.map(one, rendered))
