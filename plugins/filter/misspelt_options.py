# -*- coding: utf-8 -*-
# Copyright: vmss.rollout contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r"""
name: misspelt_options
short_description: One sentence per variable that reads like a misspelt option of a role
version_added: 0.1.0
description:
  - A role's argument spec checks the options it has, never the variables it has not, so a misspelt option such as
    C(image_rollout_batchsize) is silently ignored and the role runs with the default. This filter takes variable
    names (for example C(query('ansible.builtin.varnames', '^image_rollout_'))) and returns one sentence for each
    that is not one of O(options) but reads like a misspelling of one.
  - Only near misses count (close spelling, or an option's name with a short tail added or cut off), so a variable of
    one's own that merely shares the prefix, such as C(image_rollout_image_version), passes, and so do the variables
    the collection's roles set themselves (C(image_rollout_model), C(extension_rollout_target), ...).
options:
  _input:
    description: Variable names.
    type: list
    elements: str
    required: true
  options:
    description: The role's option names.
    type: list
    elements: str
    required: true
  prefix:
    description: The prefix the options share (C(image_rollout_)).
    type: str
    required: true
  role:
    description: The role's name, for the sentences.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Show the variables that read like misspelt options of my_role
  ansible.builtin.debug:
    msg: >-
      {{ query('ansible.builtin.varnames', '^my_role_')
         | vmss.rollout.misspelt_options(['my_role_batch', 'my_role_drain'], 'my_role_', 'my_role') }}
  vars:
    my_role_bach: 2                    # misspelt: my_role_batch
    my_role_image_version: "2.0.0"     # a variable of one's own that shares the prefix: passes
"""

RETURN = r"""
_value:
  description: One sentence per misspelt option, naming the option it resembles; empty when there is none.
  type: list
  elements: str
"""

from ansible_collections.vmss.rollout.plugins.module_utils._vmss.rollout_options import misspelt_options


def misspelt_option_sentences(names, options, prefix, role):
    return ["%s is not an option of the %s role (did you mean %s?); a misspelt option would be ignored. Rename a "
            "variable of your own that is not meant as one." % (name, role, option)
            for name, option in misspelt_options(names, options, prefix)]


class FilterModule:
    def filters(self):
        return {"misspelt_options": misspelt_option_sentences}
