# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type


class ModuleDocFragment:
    # The input of the filters over vmss_info's instance list (vmss.rollout.instance_summaries), and their author.
    DOCUMENTATION = r"""
options:
  _input:
    description: Instance summaries as returned by M(vmss.rollout.vmss_info).
    type: list
    elements: dict
    required: true
author:
  - vmss.rollout maintainers (@vmss-rollout)
"""
