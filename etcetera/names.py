"""The one place for name and path rules: dataset and partition names, `name@version`
references, and the relative paths a dataset or a remote may hold."""

from __future__ import annotations

import re
from typing import Any

from ._values import FrozenValue, set_field as _set
from .errors import InvalidNameError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_NAME = 128
# ASCII digits only: str.isdigit() and int() also accept '²' or '١', which are no version numbers.
VERSION_RE = re.compile(r"[0-9]{1,10}")


# The tag every dataset has: its newest version.  Reserved, so no tag object can shadow it.
LATEST = "latest"


# Control characters or a backslash: never in a file name a dataset may hold.
BAD_CHARS = re.compile(r"[\x00-\x1f\\]")
# Absolute, or an empty, '.' or '..' segment: a path that would leave the folder it is joined to.
_ESCAPES = re.compile(r"^/|//|/$|(?:^|/)\.{1,2}(?:/|$)")
# A Windows drive ('C:'): absolute on some systems, so refused at the start of an archive member.
DRIVE = re.compile(r"^[A-Za-z]:")


def is_absolute(path: str) -> bool:
    """Whether `path` is absolute on some system: '/x', '\\x' or 'C:x'."""
    return path.startswith(("/", "\\")) or DRIVE.match(path) is not None


def is_name(text: str) -> bool:
    """Whether `text` is a valid dataset or partition name (check_name, without the error)."""
    return len(text) <= MAX_NAME and NAME_RE.fullmatch(text) is not None


def escapes(path: str) -> bool:
    """Whether the '/'-separated `path` is empty, absolute or has an empty, '.' or '..' segment."""
    return not path or _ESCAPES.search(path) is not None


def check_rel_path(path: Any) -> str:
    """A safe relative path: '/'-separated, no '', '.', '..', absolute or control characters."""
    if not isinstance(path, str) or not path or len(path) > 4096:
        raise ValueError(f"bad path {path!r}")
    if BAD_CHARS.search(path):
        raise ValueError(f"path {path!r} has control characters")
    if escapes(path):
        raise ValueError(f"path {path!r} escapes the dataset")
    # A name over 255 bytes needs at least 64 characters (4 bytes each at most).
    if len(path) > 63 and any(len(p.encode("utf-8", "surrogatepass")) > 255 for p in path.split("/")):
        raise ValueError(f"path {path[:60]!r}... has a name longer than 255 bytes")
    return path


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
        raise InvalidNameError(f"invalid version in {ref!r}: use name@N with N a positive number of at most 9 digits 0-9")
    return name, number


def check_tag(tag: object) -> str:
    """Return `tag` if it is a valid tag name: the dataset name rule, not all digits (it would
    read as a version) and not 'latest' (reserved); else raise InvalidNameError."""
    check_name(tag, "tag name")
    assert isinstance(tag, str)
    if tag.isascii() and tag.isdigit():
        raise InvalidNameError(f"invalid tag name {tag!r}: a tag cannot be all digits (that is a version number); "
                               f"use e.g. 'v{tag}'")
    if tag == LATEST:
        raise InvalidNameError(f"invalid tag name {tag!r}: 'latest' is reserved for the newest version")
    return tag


class Ref(FrozenValue):
    """A parsed `name`, `name@3` or `name@TAG` ('latest' included): at most one of version and tag."""

    __slots__ = ("name", "version", "tag")
    name: str
    version: int | None
    tag: str | None

    def __init__(self, name: str, version: int | None = None, tag: str | None = None) -> None:
        _set(self, "name", name)
        _set(self, "version", version)
        _set(self, "tag", tag)

    def __str__(self) -> str:
        at = self.version if self.version is not None else self.tag
        return self.name if at is None else f"{self.name}@{at}"


def parse_ref_or_tag(ref: str) -> Ref:
    """'name' -> Ref(name); 'name@3' -> Ref(name, 3); 'name@stable' -> Ref(name, tag='stable');
    'name@latest' -> Ref(name, tag='latest').  A tag is resolved against the remote (tags.resolve)."""
    if not isinstance(ref, str):
        raise InvalidNameError("dataset reference must be a string like 'name', 'name@3' or 'name@TAG'")
    name, sep, at = ref.partition("@")
    check_name(name)
    if not sep:
        return Ref(name)
    if at.isascii() and at.isdigit():  # a version, valid or not: never read as a tag
        return Ref(*parse_ref(ref))
    if at == LATEST:
        return Ref(name, tag=LATEST)
    try:
        return Ref(name, tag=check_tag(at))
    except InvalidNameError:
        raise InvalidNameError(f"invalid version or tag in {ref!r}: use name@N (a version) or name@TAG "
                               f"(letters, digits, '.', '_', '-')") from None


def dataset_uri(url: str, name: str) -> str:
    """The URI that names dataset `name` on remote `url` across tools (Airflow assets, OpenLineage,
    Prefect assets, Dagster's `dagster/uri`): etc://<scheme>/<bucket-or-path>/<name>, so
    s3://bucket/prefix -> etc://s3/bucket/prefix/<name>, file:///srv/etc -> etc://file/srv/etc/<name>."""
    scheme, _, rest = url.partition("://")
    rest = rest.strip("/")
    location = f"{scheme.lower()}/{rest}" if rest else scheme.lower()
    return f"etc://{location}/{check_name(name)}"
