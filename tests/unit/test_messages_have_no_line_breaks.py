"""Messages shown to the user (msg, fail_msg, success_msg, prompt of the roles and playbooks) carry no line break
into the text: Ansible prints a message's line break as a literal \\n. A folded (>-) message keeps the line break
next to a more-indented line, so each line break must sit inside a Jinja expression or tag, or be stripped by
whitespace control ({%- -%}, {{- -}})."""
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MESSAGE_KEYS = {"msg", "fail_msg", "success_msg", "prompt"}
OPENERS = {"{{": "}}", "{%": "%}", "{#": "#}"}


def _messages(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in MESSAGE_KEYS and isinstance(value, str):
                yield key, value
            else:
                yield from _messages(value)
    elif isinstance(node, list):
        for item in node:
            yield from _messages(item)


def line_breaks_in_text(template):
    """The positions of line breaks that reach the rendered text (outside Jinja, not stripped)."""
    breaks, index, closer = [], 0, None
    while index < len(template):
        pair = template[index:index + 2]
        if closer is None and pair in OPENERS:
            closer, index = OPENERS[pair], index + 2
            continue
        if closer is not None and pair == closer:
            closer, index = None, index + 2
            continue
        if closer is None and template[index] == "\n":
            before, after = template[:index].rstrip(" "), template[index + 1:].lstrip(" ")
            stripped = before.endswith(("-}}", "-%}", "-#}")) or after.startswith(("{{-", "{%-", "{#-"))
            if not stripped:
                breaks.append(index)
        index += 1
    return breaks


def _task_files():
    return sorted(REPO.glob("roles/*/tasks/*.yml")) + sorted(REPO.glob("playbooks/*.yml"))


def test_the_check_finds_a_line_break_after_a_more_indented_line():
    play = yaml.safe_load("msg: >-\n  Rolling {{ a\n     if b else c }};\n  next line\n")
    assert play["msg"].count("\n") == 2
    assert line_breaks_in_text(play["msg"]) == [play["msg"].index(";\n") + 1]
    assert line_breaks_in_text("{{ a\n  if b else '' -}}\nNext") == []
    assert line_breaks_in_text("a {%- for x in y\n  if x -%}\n{{ x }}{%- endfor %}") == []


@pytest.mark.parametrize("path", _task_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_message_shows_a_literal_backslash_n(path):
    for key, text in _messages(yaml.safe_load(path.read_text())):
        assert not line_breaks_in_text(text), "%s: %s would print a literal \\n: %r" % (path.name, key, text)
