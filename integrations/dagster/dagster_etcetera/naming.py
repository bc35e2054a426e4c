"""Dataset names for Dagster assets.

An asset key becomes its parts joined with '.', e.g. AssetKey(["raw", "images"]) -> "raw.images".
A partition of a partitioned asset is its own dataset, "<asset>.<partition key>", e.g.
"events.2024-05-01", so that every partition has its own version history and can be pulled alone.

Dataset names follow etcetera's rule (`etcetera.check_name`: [A-Za-z0-9][A-Za-z0-9._-]*, at
most 128 characters); nothing here restates it.  Characters outside it become '_'; when
anything had to change (or the name is too long), a short hash of the original is appended (e.g. "sales.us_east-3f2a9c1d" for the partition key
"us|east"), so that two different keys never share a dataset.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Optional, Sequence

import etcetera
from etcetera.names import MAX_NAME

__all__ = ["dataset_name", "safe_part"]

_HASH_LEN = 8


def _valid(name: str) -> bool:
    """Whether `name` passes etcetera's own name rule (the one place it is written)."""
    try:
        etcetera.check_name(name)
    except etcetera.InvalidNameError:
        return False
    return True


@lru_cache(maxsize=1024)
def _allowed(char: str, first: bool = False) -> bool:
    """Whether `char` may start a name (`first`) or appear later in one."""
    return _valid(char if first else "x" + char)


def safe_part(text: str) -> str:
    """`text` made into a valid name piece; changed text carries a hash of the original.

    Only characters are checked here; the length of the whole name is handled by `dataset_name`.
    """
    clean = "".join(c if _allowed(c) else "_" for c in text)
    if clean and not _allowed(clean[0], first=True):
        clean = "x" + clean
    if clean == text and text:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH_LEN]
    return f"{clean}-{digest}" if clean else digest


def dataset_name(asset_key_path: Sequence[str], partition_key: Optional[str] = None) -> str:
    """The dataset that stores an asset (and one of its partitions)."""
    pieces = [safe_part(p) for p in asset_key_path]
    if partition_key is not None:
        pieces.append(safe_part(partition_key))
    name = ".".join(pieces)
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:_HASH_LEN]
        name = f"{name[: MAX_NAME - _HASH_LEN - 1].rstrip('._-')}-{digest}"
    return etcetera.check_name(name, "dataset name for this asset")
