"""Tags: names for versions (`birds@stable`), kept on the remote (docs/format.md, Tags).

A tag is a sequence of small immutable events, `datasets/<name>/tags/<TAG>/<seq>.json`, each
created with `Storage.put_if_absent`, the one conditional write every backend has: the newest
event says where the tag points (`{"version": N}`) or that it was deleted (`{"deleted": true}`).
Moving a tag creates the event after the newest one seen, so of two people moving it at once
exactly one wins and the other gets a ConflictError, as with two pushes of one version number.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._values import Value
from .errors import ConflictError, EtcError, FormatError, NotFoundError
from .names import LATEST, Ref, check_name, check_tag
from .remote import DATASETS, TAGS, Remote, manifest_key, parse_tag_key
from .version import author


def tags_prefix(name: str) -> str:
    return f"{DATASETS}{name}/{TAGS}/"


def event_key(name: str, tag: str, seq: int) -> str:
    return f"{tags_prefix(name)}{tag}/{seq:010d}.json"


class TagChange(Value):
    """What `etc tag` did: `tag` of `name` now points at `version` (None: deleted); `previous`
    is where it pointed before (None: it did not exist); `changed` is False when it already
    pointed there."""

    __slots__ = ("name", "tag", "version", "previous", "changed", "remote")
    name: str
    tag: str
    version: int | None
    previous: int | None
    changed: bool
    remote: str

    def __init__(self, name: str, tag: str, version: int | None, previous: int | None, changed: bool,
                 remote: str) -> None:
        self.name, self.tag, self.version, self.previous = name, tag, version, previous
        self.changed, self.remote = changed, remote

    def to_dict(self) -> dict[str, Any]:
        """Every field by name, in order (the `etc tag --json` document)."""
        return {name: getattr(self, name) for name in self.__slots__}


def _events(remote: Remote, name: str, only: str = "") -> dict[str, int]:
    """The newest event's sequence number of each tag of `name` (deleted ones included), or of
    the tag `only` (listing only its events).  A remote that cannot list (HTTPS) is asked its
    index, and each tag's next events are looked for until one is missing, since the index may be
    older than the newest event."""
    if not remote.storage.listable:
        return _indexed_events(remote, name, only)
    newest: dict[str, int] = {}
    prefix = tags_prefix(name)
    for info in remote.storage.list(prefix + (only + "/" if only else "")):
        parsed = parse_tag_key(info.key)
        if parsed is None or parsed[0] != name:
            continue  # a stray upload: ignored like one beside the manifests
        newest[parsed[1]] = max(newest.get(parsed[1], 0), parsed[2])
    return newest


def _indexed_events(remote: Remote, name: str, only: str) -> dict[str, int]:
    indexed = remote.dataset_index(name)
    seqs = dict(indexed.tags) if indexed else {}
    if only:
        seqs = {only: seqs.get(only, 0)}  # a tag newer than the index is found from its first event

    def newest(item: tuple[str, int]) -> int:
        tag, seq = item
        while True:
            try:
                _read(remote, name, tag, seq + 1)  # read, not HEAD: a page served for any path is an error
            except NotFoundError:
                return seq
            seq += 1

    items = list(seqs.items())
    with ThreadPoolExecutor(max(1, min(len(items), remote.storage.config.worker_count)), "etc-tags") as pool:
        found = dict(zip(seqs, pool.map(newest, items)))
    return {tag: seq for tag, seq in found.items() if seq}


def _read(remote: Remote, name: str, tag: str, seq: int) -> int | None:
    """The version event `seq` of `tag` points at, None for a deletion."""
    key = event_key(name, tag, seq)

    def parse(raw: bytes) -> int | None:
        try:
            doc = json.loads(raw)
            if doc.get("deleted") is True:
                return None
            version = doc["version"]
            if type(version) is not int or version < 1:
                raise ValueError(version)
            return version
        except (ValueError, KeyError, AttributeError, TypeError):
            raise FormatError(f"tag event {key} on {remote.url} is not valid: delete it to fall back to the one "
                              f"before") from None

    return remote._get(key, f"{name}@{tag}", parse)  # read again if the body is cut off, like a manifest


def _current(remote: Remote, name: str, tag: str) -> tuple[int, int | None]:
    """(newest sequence number, version the tag points at or None); (0, None) for a new tag."""
    seq = _events(remote, name, tag).get(tag, 0)
    return seq, (_read(remote, name, tag, seq) if seq else None)


def tags(remote: Remote, name: str) -> dict[str, int]:
    """Every live tag of `name` with the version it points at, sorted by tag."""
    check_name(name)
    newest = sorted(_events(remote, name).items())
    with ThreadPoolExecutor(max(1, min(len(newest), remote.storage.config.worker_count)), "etc-tags") as pool:
        versions = list(pool.map(lambda ts: _read(remote, name, *ts), newest))
    return {tag: v for (tag, _), v in zip(newest, versions) if v is not None}


def resolve(remote: Remote, ref: Ref) -> int | None:
    """The version `ref` names: its number, the tag's target, the newest for 'latest'; None
    when it names neither (plain `name`: the caller's default)."""
    if ref.version is not None or ref.tag is None:
        return ref.version
    if ref.tag == LATEST:
        latest = remote.latest(ref.name)
        if latest is None:
            raise NotFoundError(f"{ref.name} has no versions on {remote.url}: etc list -r shows what is there")
        return latest
    _, version = _current(remote, ref.name, ref.tag)
    if version is None:
        raise NotFoundError(f"{ref} does not exist on {remote.url}: `etc versions {ref.name}` lists its tags")
    return version


def _write(remote: Remote, name: str, tag: str, seq: int, doc: dict[str, Any]) -> None:
    if not remote.storage.put_if_absent(event_key(name, tag, seq), json.dumps(doc).encode()):
        raise ConflictError(f"tag {tag} of {name} was moved by someone else meanwhile on {remote.url}: "
                            f"`etc versions {name}` shows where it points; tag again to move it")
    remote.refresh_index(name)


def _stamp() -> dict[str, str]:
    return {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "author": author()}


def set_tag(remote: Remote, ref: Ref, tag: str) -> TagChange:
    """Point `tag` of `ref.name` at the version `ref` names (a number, another tag or 'latest')."""
    check_tag(tag)
    if ref.version is None and ref.tag is None:
        raise EtcError(f"name the version to tag: etc tag {ref.name}@N {tag} (or {ref.name}@latest)")
    version = resolve(remote, ref)
    assert version is not None
    if not remote.storage.exists(manifest_key(ref.name, version)):
        raise NotFoundError(f"{ref.name}@{version} does not exist on {remote.url}: `etc versions {ref.name}` lists them")
    seq, previous = _current(remote, ref.name, tag)
    if previous == version:
        return TagChange(ref.name, tag, version, previous, False, remote.url)
    _write(remote, ref.name, tag, seq + 1, {"version": version, **_stamp()})
    return TagChange(ref.name, tag, version, previous, True, remote.url)


def delete_tag(remote: Remote, name: str, tag: str) -> TagChange:
    """Delete `tag` of `name` (the version stays); NotFoundError if there is no such tag."""
    check_name(name)
    check_tag(tag)
    seq, previous = _current(remote, name, tag)
    if previous is None:
        raise NotFoundError(f"{name}@{tag} does not exist on {remote.url}: `etc versions {name}` lists its tags")
    _write(remote, name, tag, seq + 1, {"deleted": True, **_stamp()})
    return TagChange(name, tag, None, previous, True, remote.url)


__all__ = ["TagChange", "tags", "resolve", "set_tag", "delete_tag", "event_key", "tags_prefix", "TAGS"]
