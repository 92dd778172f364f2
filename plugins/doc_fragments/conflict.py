# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type


class ModuleDocFragment:
    # The re-read after a concurrent edit of the scale set model (vmss.rollout.conflict).
    DOCUMENTATION = r"""
options:
  conflict_retries:
    description:
      - Every model write is a PATCH guarded by the etag the task read. When someone else changed the scale set in
        between, Azure answers 412; the task then reads the scale set again, works out its change anew (keeping the
        other edit) and writes again, at most this many times.
      - When the scale set keeps changing, the task fails with one sentence and nothing of its change is written.
    type: int
    default: 3
"""
