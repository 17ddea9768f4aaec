"""JSON request bodies parsed strictly, so bad numbers and deep nesting are a
400 like any other malformed body, never a 500.

- ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259); Python's
  parser accepts them and ``1e400`` becomes ``inf``: ``int(inf)`` is an
  OverflowError deep inside a service. They are refused here.
- A body nested thousands of levels deep makes the parser (or any code walking
  the value) raise RecursionError. Nesting is limited to ``MAX_DEPTH``.
- ``"\\ud800"`` (a lone surrogate escape) is not a character: Python's parser
  gives a string that no database driver can encode (UnicodeEncodeError at the
  INSERT). A key or value holding one is refused here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 64


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                "JSON text holds a lone surrogate (an escape such as \\ud800 that is no character)"
            ) from None


def check_value(value, limit: int = MAX_DEPTH) -> None:
    """Raise ValueError when ``value`` nests deeper than ``limit`` or holds text
    that is not valid Unicode (without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (dict, list)):
            if depth > limit:
                raise ValueError(f"JSON nested deeper than {limit} levels")
            children: Iterable[Any] = item
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
                children = item.values()
            stack.extend((child, depth + 1) for child in children if isinstance(child, (str, dict, list)))


class StrictJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        kwargs.setdefault("parse_constant", _no_constant)
        kwargs.setdefault("parse_float", _finite_float)
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
        check_value(value)
        return value
