# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of vmss_rollout_batches: shared by the action (plugins/action), which runs the batch loop on the
controller, and the module file that documents them (validate-modules compares the two)."""

from __future__ import annotations

__metaclass__ = type

ARGUMENT_SPEC = {
    "plan": {"type": "list", "elements": "dict", "required": True},
    "instances": {"type": "list", "elements": "dict", "required": True},
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
}
