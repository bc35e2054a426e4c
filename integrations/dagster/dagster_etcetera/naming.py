"""Dataset names for Dagster assets.

An asset key becomes its parts joined with '.', e.g. AssetKey(["raw", "images"]) -> "raw.images".
A partition of a partitioned asset is its own dataset, "<asset>.<partition key>", e.g.
"events.2024-05-01", so that every partition has its own version history and can be pulled alone.

Dataset names follow etcetera's rule [A-Za-z0-9][A-Za-z0-9._-]* (at most 128 characters).
Characters outside it become '_'; when anything had to change (or the name is too long), a short
hash of the original is appended (e.g. "sales.us_east-3f2a9c1d" for the partition key
"us|east"), so that two different keys never share a dataset.
"""

from __future__ import annotations

import hashlib
import re
from typing import Optional, Sequence

__all__ = ["dataset_name", "safe_part"]

_BAD = re.compile(r"[^A-Za-z0-9._-]")
MAX_NAME = 128
_HASH_LEN = 8


def safe_part(text: str) -> str:
    """`text` made into a valid name piece; changed text carries a hash of the original."""
    clean = _BAD.sub("_", text)
    if clean and clean[0] in "._-":
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
    return name
