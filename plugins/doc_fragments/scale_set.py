# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type


class ModuleDocFragment:
    # The scale set a module works on (vmss.rollout.scale_set); VmssModule adds these options.
    DOCUMENTATION = r"""
options:
  resource_group:
    description: Resource group of the scale set.
    type: str
    required: true
  name:
    description: Name of the scale set.
    type: str
    required: true
    aliases: [vmss_name]
"""
