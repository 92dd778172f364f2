# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type


class ModuleDocFragment:
    # check_mode / diff_mode support of the collection's modules (vmss.rollout.attributes).
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying Azure.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
"""

    # For read-only modules such as vmss_info.
    INFO_MODULE = r"""
attributes:
  check_mode:
    description: Can run in check mode; the module never changes anything.
    support: full
  diff_mode:
    description: The module never changes anything, so there is no diff.
    support: N/A
"""
