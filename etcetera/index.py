"""The index documents: which datasets, versions and tags a remote holds, for readers that cannot
list (a mirror served over HTTPS).  docs/format.md, "Index", says where they live and how they
stay consistent; this module only builds and checks them.

    datasets/_index.json          {"format": "etcetera/index-1", "datasets": {"birds": 3, ...}}
    datasets/<name>/_index.json   {"format": "etcetera/index-1", "name": "birds",
                                   "versions": [1, 2, 3], "tags": {"stable": 2}}

`tags` maps each tag to the number of its newest event (tags.py), deleted tags included.  The
version roots and tag events stay the truth: an index only says where a reader starts looking.
"""

from __future__ import annotations

import json
from typing import Any

from ._values import Value
from .errors import FormatError, InvalidNameError
from .names import check_tag, is_name

FORMAT = "etcetera/index-1"
INDEX = "_index.json"  # '_' cannot start a dataset name, so this never names a dataset's folder
MAX_INDEX_BYTES = 64 << 20


class DatasetIndex(Value):
    """What the index of one dataset says: its versions (ascending) and its tags' newest events."""

    __slots__ = ("name", "versions", "tags")
    name: str
    versions: list[int]
    tags: dict[str, int]

    def __init__(self, name: str, versions: list[int] | None = None, tags: dict[str, int] | None = None) -> None:
        self.name = name
        self.versions = [] if versions is None else versions
        self.tags = {} if tags is None else tags

    def to_bytes(self) -> bytes:
        return _dump({"format": FORMAT, "name": self.name, "versions": sorted(self.versions),
                      "tags": dict(sorted(self.tags.items()))})


def datasets_bytes(latest: dict[str, int]) -> bytes:
    """The remote-wide index: every dataset with its newest version."""
    return _dump({"format": FORMAT, "datasets": dict(sorted(latest.items()))})


def read_dataset_index(raw: bytes, name: str, where: str) -> DatasetIndex:
    """The index of dataset `name`; FormatError (one line naming `where`) when it is not one."""
    doc = _load(raw, where)
    versions, tags = doc.get("versions"), doc.get("tags")
    if doc.get("name") != name or not isinstance(versions, list) or not isinstance(tags, dict) \
            or not all(_is_number(v) for v in versions) or not all(_is_number(s) for s in tags.values()):
        raise _bad(where)
    try:
        for tag in tags:
            check_tag(tag)
    except InvalidNameError:
        raise _bad(where) from None
    return DatasetIndex(name, sorted(set(versions)), dict(tags))


def read_datasets(raw: bytes, where: str) -> dict[str, int]:
    """The remote-wide index's {dataset: newest version}; FormatError when it is not one."""
    found = _load(raw, where).get("datasets")
    if not isinstance(found, dict) or not all(is_name(n) and _is_number(v) for n, v in found.items()):
        raise _bad(where)
    return dict(sorted(found.items()))


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _load(raw: bytes, where: str) -> dict[str, Any]:
    try:
        if len(raw) > MAX_INDEX_BYTES:
            raise ValueError("too large")
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise _bad(where) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _bad(where)
    return doc


def _bad(where: str) -> FormatError:
    return FormatError(f"{where} is not an etcetera index (damaged, or a web page served in its place): "
                       f"check the url; any push to the writable remote rewrites it")


def _is_number(v: Any) -> bool:
    return type(v) is int and v >= 1


__all__ = ["DatasetIndex", "FORMAT", "INDEX", "datasets_bytes", "read_dataset_index", "read_datasets"]
