"""Compact JSON of documents with one large collection (a manifest's files, a state's files),
encoded a batch at a time: 50,000 entries never exist as one string or as 50,000 dicts at once."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator, Sequence


def compact(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"))


def pieces(head: dict, key: str, items: Sequence, to_json: Callable[[Any], Any] = lambda item: item,
           batch: int = 1000) -> Iterator[str]:
    """Pieces of `compact(head)` whose `head[key]` (an empty list or dict) holds `items`: values of
    the list, or (key, value) pairs of the dict, each passed through `to_json`."""
    as_dict = isinstance(head[key], dict)
    text = compact(head)
    marker = f"{compact(key)}:{compact(head[key])}"
    cut = text.index(marker) + len(marker) - 1  # just before the closing bracket
    yield text[:cut]
    for i in range(0, len(items), batch):
        chunk = [to_json(item) for item in items[i:i + batch]]
        body = compact(dict(chunk) if as_dict else chunk)[1:-1]
        yield f",{body}" if i else body
    yield text[cut:]
