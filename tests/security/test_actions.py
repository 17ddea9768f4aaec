"""Actions are a closed set of names: a rule exists for each, and a name that is not one fails early.

Python callers are checked by mypy (``Action`` is a Literal type); templates, which mypy does not read,
are checked here, so a misspelt action in a page fails the suite instead of raising on the first visit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from training import permissions
from training.permissions import ACTIONS, can

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_every_action_named_in_a_template_exists():
    used = {}
    for path in TEMPLATES.rglob("*.html"):
        for name in re.findall(r"""\bcan\(\s*[\w.]+\s*,\s*['"](\w+)['"]""", path.read_text(encoding="utf-8")):
            used.setdefault(name, []).append(path.relative_to(TEMPLATES).as_posix())
    assert used, "no template asks can(); the pattern above no longer matches how templates call it"
    unknown = {name: where for name, where in used.items() if name not in ACTIONS}
    assert not unknown, f"templates name actions that do not exist: {unknown}"


def test_an_unknown_action_is_refused_not_denied():
    with pytest.raises(ValueError, match="unknown action"):
        can(None, "launch_rockets")  # type: ignore[arg-type]


def test_a_rule_for_an_unknown_or_already_ruled_action_fails_when_it_is_defined():
    def never(user, obj, authenticated):
        return False

    with pytest.raises(RuntimeError):
        permissions._rule("launch_rockets")(never)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        permissions._rule("manage")(never)
    assert permissions._RULES["manage"] is not never


def test_each_action_has_exactly_one_rule():
    assert set(permissions._RULES) == ACTIONS
