# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of the rollout: vmss_rollout_batches' argument spec, shared by the action (plugins/action), which runs
the batch loop on the controller, and the module file that documents it (validate-modules compares the two); and
the one check of their values, which the rolling_upgrade role runs too (filter rollout_option_errors)."""

from __future__ import annotations

__metaclass__ = type

import difflib
import json
import re

from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.vmss.rollout.plugins.module_utils._vmss import batches, probes

ARGUMENT_SPEC = {
    # both omitted: the action reads the members and plans them itself (batch_size, batch_by)
    "plan": {"type": "list", "elements": "dict"},
    "instances": {"type": "list", "elements": "dict"},
    "batch": {"type": "int"},
    "tally": {"type": "dict"},
    "max_unhealthy_percent": {"type": "float", "default": 20},
    "max_unhealthy_upgraded_percent": {"type": "float", "default": 20},
    "health_timeout": {"type": "int", "default": 300},
    "drain": {"type": "bool", "default": False},
    "drain_url": {"type": "str", "default": "http://{private_ip}:8080/drain"},
    "drain_seconds": {"type": "float", "default": 10},
    "http_check": {"type": "bool", "default": False},
    "http_url": {"type": "str", "default": "http://{private_ip}:8080/health"},
    "http_timeout": {"type": "float", "default": 5},
    "http_retries": {"type": "int", "default": 10},
    "http_delay": {"type": "float", "default": 3},
    "validate_certs": {"type": "bool", "default": True},
    "bake_seconds": {"type": "float", "default": 0},
    "pause_seconds": {"type": "float", "default": 0},
    "bake_after_last_batch": {"type": "bool", "default": False},
    "option_prefix": {"type": "str", "default": "rolling_upgrade_"},
    "strategy": {"type": "str", "default": "in_place"},
    "surge_protected": {"type": "str", "default": "report"},
    "surge_in_rotation_seconds": {"type": "float", "default": 5},
}

# What is rolled (issue 14): a Uniform set, a Flexible set, or a group of plain VMs; kept apart from the options above.
TARGET_KINDS = ("auto", "uniform", "flexible", "virtual_machines")
TARGET_ARGUMENT_SPEC = {
    "kind": {"type": "str", "default": "auto", "choices": list(TARGET_KINDS)},
    "virtual_machines": {"type": "list", "elements": "str"},
    "extension": {"type": "dict"},
    "batch_size": {"type": "raw", "default": "update_domain"},
    "batch_by": {"type": "str", "default": "update_domain", "choices": list(batches.PLACEMENT_KEYS)},
    "rollback": {"type": "bool", "default": False},
    "rollback_extension": {"type": "dict"},
}
ARGUMENT_SPEC.update(TARGET_ARGUMENT_SPEC)
STRATEGIES = ("in_place", "surge")
SURGE_PROTECTED = ("upgrade_in_place", "report")


# The URL each URL option is shown with in its message.
URL_EXAMPLES = {"http_url": "http://{private_ip}:8080/health", "drain_url": "http://{private_ip}:8080/drain"}
POSITIVE = ("health_timeout", "wait_timeout", "poll_interval")
NOT_NEGATIVE = ("http_timeout", "http_retries", "http_delay", "drain_seconds", "bake_seconds", "pause_seconds",
                "max_batches", "surge_in_rotation_seconds")
PERCENTAGES = ("max_unhealthy_percent", "max_unhealthy_upgraded_percent")


def _number(value):
    """``value`` as a number (role variables may arrive as text, "20"), or None when it is not one."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _batch_error(batch):
    # Asked of the planner itself, so what passes here is exactly what plan_batches accepts.
    try:
        batches.batch_sizes(batch, 100)
    except batches.BatchError:
        return True
    return False


def option_errors(options, prefix=""):
    """One sentence per bad rollout option among ``options`` (only those present are checked), each naming the
    option as ``prefix`` + its name (the image_rollout role's users read image_rollout_batch, say).

    The one check of the rollout options: the vmss_rollout_batches action and the rolling_upgrade role (through the
    rollout_option_errors filter, before any wrapper role changes the model) both call it."""
    errors = []
    if "batch" in options and _batch_error(options["batch"]):
        errors.append('%sbatch must be "update_domain", a positive integer, a percentage above 0%% and at most 100%% '
                      'such as "20%%", or a non-empty ramp list of those such as [1, "10%%", "25%%"] or '
                      '[1, "update_domain"]; got %s.'
                      % (prefix, json.dumps(options["batch"], default=str)))
    for name in PERCENTAGES:
        value = _number(options.get(name)) if name in options else 0
        if value is None or not 0 <= value <= 100:
            errors.append("%s%s must be between 0 and 100, got %s." % (prefix, name, _shown(options[name])))
    for name in POSITIVE:
        value = _number(options.get(name)) if name in options else 1
        if value is None or value <= 0:
            errors.append("%s%s must be a positive number of seconds, got %s." % (prefix, name, _shown(options[name])))
    for name in NOT_NEGATIVE:
        value = _number(options.get(name)) if name in options else 0
        if value is None or value < 0:
            errors.append("%s%s must not be negative, got %s." % (prefix, name, _shown(options[name])))
    for name, allowed in (("strategy", STRATEGIES), ("surge_protected", SURGE_PROTECTED)):
        if name in options and options[name] not in allowed:
            errors.append("%s%s must be one of %s, got %s." % (prefix, name, ", ".join(allowed),
                                                               json.dumps(options[name], default=str)))
    for name, example in URL_EXAMPLES.items():
        if name not in options:
            continue
        try:
            if not isinstance(options[name], str):
                raise probes.UrlTemplateError("not a text")
            unknown = probes.unknown_fields(options[name])
        except probes.UrlTemplateError as err:
            errors.append('%s%s must be a URL whose {field} placeholders name fields of the instance summaries, such '
                          'as "%s"; got %s (%s).' % (prefix, name, example, json.dumps(options[name], default=str), err))
            continue
        if unknown:
            # a typo'd field renders no URL: a drain would drain nothing, a check would blame the image
            errors.append("%s%s names unknown instance field(s) %s in %s; its {field} placeholders may name: %s." % (
                prefix, name, ", ".join(unknown), json.dumps(options[name], default=str),
                ", ".join(probes.INSTANCE_FIELDS)))
        elif not _is_http_url(options[name]):
            # "nope" passed the placeholder check, then every instance failed its check on a URL that cannot work
            errors.append('%s%s must be an http:// or https:// URL with a host, such as "%s"; got %s.' % (
                prefix, name, example, json.dumps(options[name], default=str)))
    return errors


def _is_http_url(template):
    """Whether the URL template, its {field} placeholders filled, is an http(s) URL with a host."""
    try:
        parts = urlsplit(re.sub(r"\{[^{}]*\}", "x", template))
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _shown(value):
    number = _number(value)
    return "%g" % number if number is not None else json.dumps(value, default=str)


# Variables the collection's roles set themselves under the roles' prefixes (register, loop_var, set_fact): never a
# misspelt option, however close (extension_rollout_target, the loop over extension_rollout_targets).
SET_BY_THE_ROLES = frozenset([
    "image_rollout_model", "extension_rollout_model", "extension_rollout_results", "extension_rollout_target",
    "rolling_upgrade_result", "rolling_upgrade_outcome", "rolling_upgrade_batch_instances",
    "rolling_upgrade_batch_outcome"])


def misspelt_options(names, options, prefix):
    """[(name, option)]: each of ``names`` that is not one of ``options`` but reads like a misspelling of one (pure).

    A role never sees a variable it does not declare, so ``image_rollout_batchsize`` would be ignored and the rollout
    run at the default batch. Only near misses count, so a variable of the user's own that merely shares the prefix
    (``image_rollout_image_version``) passes: close by difflib, or an option's name with a short tail added
    (``batch`` + ``size``) or cut off (``max_unhealthy`` for ``max_unhealthy_percent``)."""
    tails = dict((option[len(prefix):], option) for option in options if option.startswith(prefix))
    found = []
    for name in sorted(set(names) - set(options) - SET_BY_THE_ROLES):
        if not name.startswith(prefix):
            continue
        tail = name[len(prefix):]
        if tail.startswith("_"):
            continue   # rolling_upgrade__batch: a role's internal variable, by Ansible's naming convention
        close = difflib.get_close_matches(tail, sorted(tails), n=1, cutoff=0.75) or [
            known for known in sorted(tails, key=len, reverse=True) if len(tail) >= 4 and len(known) >= 4
            and (tail.startswith(known) and len(tail) - len(known) <= 5
                 or known.startswith(tail) and len(known) - len(tail) <= 8)][:1]
        if close:
            found.append((name, tails[close[0]]))
    return found
