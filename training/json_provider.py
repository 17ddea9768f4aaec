"""JSON request bodies parsed strictly, so bad numbers and deep nesting are a
400 like any other malformed body, never a 500.

- ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259); Python's
  parser accepts them and ``1e400`` becomes ``inf``: ``int(inf)`` is an
  OverflowError deep inside a service. They are refused here.
- A body nested thousands of levels deep makes the parser (or any code walking
  the value) raise RecursionError. Nesting is limited to ``MAX_DEPTH``.
"""

from __future__ import annotations

import json
import math

from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 64


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def check_depth(value, limit: int = MAX_DEPTH) -> None:
    """Raise ValueError when ``value`` nests deeper than ``limit`` (without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                raise ValueError(f"JSON nested deeper than {limit} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


class StrictJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        kwargs.setdefault("parse_constant", _no_constant)
        kwargs.setdefault("parse_float", _finite_float)
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
        check_depth(value)
        return value
