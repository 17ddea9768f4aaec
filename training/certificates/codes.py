"""Certificate codes: 135 bits from the OS's CSPRNG in Crockford's base-32
alphabet (no I, L, O, U), plus one check character, printed in groups of four.

The canonical form stored in the database is 28 upper-case characters without
separators. People may type codes in lower case, with spaces or dashes, and
with O for 0 or I/L for 1: ``normalise`` accepts all of that.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY_LENGTH = 27  # 27 x 5 = 135 bits
LENGTH = BODY_LENGTH + 1
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_TRANSLATE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def check_char(body: str) -> str:
    """Luhn mod 32: catches every single-character error and adjacent swap."""
    factor, total, n = 2, 0, len(ALPHABET)
    for char in reversed(body):
        addend = factor * _VALUE[char]
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return ALPHABET[(n - total % n) % n]


def generate() -> str:
    bits = secrets.randbits(5 * BODY_LENGTH)  # one read of the CSPRNG; each 5 bits one character
    body = "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(BODY_LENGTH))
    return body + check_char(body)


def normalise(text: str) -> str | None:
    """The canonical code, or None when it cannot be a valid code."""
    if not isinstance(text, str) or len(text) > 80:
        return None
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_TRANSLATE)
    if len(cleaned) != LENGTH or any(c not in _VALUE for c in cleaned):
        return None
    if check_char(cleaned[:-1]) != cleaned[-1]:
        return None
    return cleaned


def display(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
