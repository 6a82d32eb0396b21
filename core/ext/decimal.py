"""Cedar's `decimal` extension type: fixed-point numbers with four fractional digits.

A decimal is stored as its value times 10**4 in a signed 64-bit integer, and parsed by Cedar
4.x's rule: the whole string must match `-?[0-9]+\\.[0-9]+`, with at most four digits after
the point. The sign comes from the leading `-`, so `-0.5` is below zero. Checks run in
Cedar's order so that each bad string gets the error Cedar gives it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cedar_smt.core.errors import ExtensionError

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
DIGITS = 4
SCALE = 10**DIGITS

# Cedar's regex uses Unicode `\d`: other digits pass the pattern but fail the integer parse,
# which Cedar reports as an overflow.
_PATTERN = re.compile(r"(-?\d+)\.(\d+)\Z")


@dataclass(frozen=True, slots=True, order=True)
class Decimal:
    """A decimal number; `value` is the number times 10**4."""

    value: int

    def __str__(self) -> str:
        sign = "-" if self.value < 0 else ""
        whole, frac = divmod(abs(self.value), SCALE)
        return f"{sign}{whole}.{frac:0{DIGITS}d}"

    def to_cedar(self) -> str:
        return f'decimal("{self}")'

    def to_json(self) -> dict[str, str]:
        return {"fn": "decimal", "arg": str(self)}


def parse_decimal(s: str) -> Decimal:
    """The decimal written `s`, or an `ExtensionError` as Cedar's `decimal` would raise."""
    match = _PATTERN.match(s)
    if match is None:
        raise ExtensionError(f"`{s}` is not a well-formed decimal value")
    whole, frac = match.groups()
    whole_value = _ascii_int(whole)
    if whole_value is None or not I64_MIN <= whole_value * SCALE <= I64_MAX:
        raise ExtensionError(f"overflow when converting `{s}` to decimal")
    if len(frac.encode()) > DIGITS:
        raise ExtensionError(f"too many digits after the decimal in `{s}`")
    if not frac.isascii():
        raise ExtensionError(f"overflow when converting `{s}` to decimal")
    magnitude = abs(whole_value) * SCALE + int(frac) * 10 ** (DIGITS - len(frac))
    value = -magnitude if s.startswith("-") else magnitude
    if not I64_MIN <= value <= I64_MAX:
        raise ExtensionError(f"overflow when converting `{s}` to decimal")
    return Decimal(value)


def _ascii_int(text: str) -> int | None:
    """The integer `text` spells in ASCII digits (and an optional `-`), or None if it holds
    other digits or is too long for 64 bits; leading zeros are allowed, as in Rust."""
    digits = text.removeprefix("-")
    if not digits.isascii():
        return None
    significant = digits.lstrip("0")
    if len(significant) > 20:
        return None
    value = int(significant or "0")
    return -value if text.startswith("-") else value
