"""The wrapper roles (image_rollout, extension_rollout; fleet_rollout.yml goes through image_rollout) forward every
engine option of rolling_upgrade: an option added to the engine but not to a wrapper is silently ignored there
(report_file was, so image_rollout_report_file wrote nothing)."""
import re
from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"
WRAPPERS = ("image_rollout", "extension_rollout")
# rolling_upgrade inputs that are not engine options: the target, how the options arrive, what a rollback restores
# (the wrappers derive the rollback target from their own model change)
NOT_ENGINE_OPTIONS = {"resource_group", "name", "options", "option_prefix", "rollback_image", "rollback_extensions",
                      "rollback_remove_extensions"}


def _spec_options(role):
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


def _engine_option_names():
    return {name[len("rolling_upgrade_"):] for name in _spec_options("rolling_upgrade")} - NOT_ENGINE_OPTIONS


def test_the_engine_reads_every_option_of_its_argument_spec():
    options_template = yaml.safe_load((ROLES / "rolling_upgrade" / "vars" / "main.yml").read_text())[
        "rolling_upgrade__options"]
    read = dict(re.findall(r"'(\w+)': (rolling_upgrade_\w+)", options_template))
    assert set(read) == _engine_option_names()
    assert all(variable == "rolling_upgrade_" + name for name, variable in read.items())


@pytest.mark.parametrize("role", WRAPPERS)
def test_each_wrapper_forwards_every_engine_option(role):
    forwarded = yaml.safe_load((ROLES / role / "vars" / "main.yml").read_text())[role + "__engine_options"]
    assert set(forwarded) == _engine_option_names(), "missing: %s; unknown: %s" % (
        sorted(_engine_option_names() - set(forwarded)), sorted(set(forwarded) - _engine_option_names()))
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    documented = _spec_options(role)
    for name, template in forwarded.items():
        # each from the wrapper's own option of the same name, which has a default and is documented
        assert template == "{{ %s_%s }}" % (role, name)
        assert role + "_" + name in defaults and role + "_" + name in documented, name


@pytest.mark.parametrize("role", WRAPPERS)
def test_a_play_level_report_file_is_not_overridden_by_a_wrapper_default(role):
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    assert defaults[role + "_report_file"] == "{{ rolling_upgrade_report_file | default('') }}"
