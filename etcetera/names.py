"""Dataset and partition names, and `name@version` references."""

from __future__ import annotations

import re

from .errors import InvalidNameError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_NAME = 128
# ASCII digits only: str.isdigit() and int() also accept '²' or '١', which are no version numbers.
VERSION_RE = re.compile(r"[0-9]{1,10}")


def parse_version(text: str) -> int | None:
    """The version number `text` spells in ASCII digits ('3', '0000000003'), or None if it is not one."""
    if not VERSION_RE.fullmatch(text):
        return None
    return int(text) or None


def check_name(name: object, what: str = "dataset name") -> str:
    """Return `name` if it is a valid name, else raise InvalidNameError saying the rule."""
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"{what} must be a non-empty string")
    if len(name) > MAX_NAME:
        raise InvalidNameError(f"{what} {name[:40]!r}... is longer than {MAX_NAME} characters")
    if not NAME_RE.fullmatch(name):
        raise InvalidNameError(
            f"invalid {what} {name!r}: use letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """'name' -> (name, None); 'name@3' -> (name, 3)."""
    if not isinstance(ref, str):
        raise InvalidNameError("dataset reference must be a string like 'name' or 'name@3'")
    name, sep, version = ref.partition("@")
    check_name(name)
    if not sep:
        return name, None
    number = parse_version(version) if len(version) <= 9 else None
    if number is None:
        raise InvalidNameError(f"invalid version in {ref!r}: use name@N with N a positive number (digits 0-9)")
    return name, number
