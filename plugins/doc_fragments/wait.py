# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type


class ModuleDocFragment:
    # Bounded waiting for long-running Azure operations (vmss.rollout.wait).
    DOCUMENTATION = r"""
options:
  wait_timeout:
    description:
      - Longest time, in seconds, to wait for an Azure long-running operation (and any other wait of the task).
      - When it runs out the task fails with a timeout; the operation may still finish in Azure.
    type: int
    default: 1800
  poll_interval:
    description:
      - Seconds between status checks when Azure does not say how long to wait (a C(Retry-After) from Azure wins).
    type: float
    default: 15.0
"""
