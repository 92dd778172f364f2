# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type


class ModuleDocFragment:
    # The plain virtual machine a vm_* module works on (vmss.rollout.virtual_machine).
    DOCUMENTATION = r"""
options:
  resource_group:
    description: Resource group of the virtual machine.
    type: str
    required: true
  name:
    description:
      - Name of the virtual machine. A member of a Flexible scale set is a virtual machine too.
      - A scale set's name fails the task with a sentence naming the vmss_* modules.
    type: str
    required: true
    aliases: [vm_name]
"""
