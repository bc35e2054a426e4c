"""Push: publish a local dataset as a new version of it on the remote.

The steps, in order: recover a publish that a killed push left pending; stop early when the
copy is the latest version already; check that the copy is based on the latest version (a
conflict otherwise, unless forced); upload the new content and renew the age of reused
objects; publish the manifest, which makes the version exist.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .dataset import LocalFile, partition_of, scan_files, validate_dataset_dir
from .errors import ConflictError, DatasetError, NotFoundError
from .home import Home, Pending, State
from .manifest import EMPTY_SHA256, FileEntry, Manifest, Part
from .names import check_name
from .packing import CHUNK, NewFile, Upload, chunk_list_id, chunk_ranges, group_of, hash_range, plan_uploads
from .progress import Progress
from .remote import Remote
from .transfer import renew, upload
from .version import __version__

log = logging.getLogger("etcetera")


@dataclass
class PushReport:
    """What a push did: the version it published (or found up to date) and the bytes it sent."""

    name: str
    version: int
    uploaded_bytes: int
    total_bytes: int
    files: int
    up_to_date: bool
    seconds: float

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class _NewVersion:
    """What the pushed version holds, and the published versions it builds on."""

    files: list[FileEntry]
    dirs: set[str]
    latest: Manifest | None  # the remote's latest version
    base: Manifest | None  # the version the copy was pulled or pushed as (else the latest)

    def content(self) -> set[tuple]:
        return {f.content_key() for f in self.files} | {("dir", d) for d in self.dirs}


def require_local(home: Home, name: str) -> None:
    """DatasetError unless `name` is in the home: checked before the remote is opened."""
    if not home.path(check_name(name)).exists():
        raise DatasetError(f"{name} is not in {home.root}: etc register DIR {name} first")


def push(home: Home, remote: Remote, name: str, *, workers: int, force: bool = False,
         quiet: bool | None = None) -> PushReport:
    """Publish the local dataset `name` as a new version of it on `remote`."""
    started = time.monotonic()
    require_local(home, name)
    home.clean_leftovers()
    with home.lock(name):
        path = home.path(name)
        validate_dataset_dir(path)
        state = home.load_state(name) or State()
        local_files, dirs = scan_files(path)
        latest = remote.latest(name)
        _recover_pending(remote, name, state, latest)
        if latest is not None and latest == state.version and state.remote == remote.url \
                and state.unchanged(local_files, dirs):
            # Nothing changed since this copy was pushed or pulled as the latest version.
            total = sum(f.size for f in local_files)
            return PushReport(name, latest, 0, total, len(local_files), True, time.monotonic() - started)
        hashes = _hash_all(path, local_files, state)
        new = _new_version(remote, name, path, state, local_files, dirs, hashes, latest)
        total = sum(f.size for f in new.files)
        if new.latest is not None and new.content() == new.latest.content():
            _remember(home, name, state, local_files, dirs, hashes, latest, remote.url)
            return PushReport(name, latest, 0, total, len(new.files), True, time.monotonic() - started)
        _check_conflict(remote, name, state, latest, force)

        files, objects, uploads = _plan_objects(new, path, local_files, hashes, workers, name)
        sent, found = _upload_and_renew(remote, name, uploads, workers, quiet)
        version = _publish(home, remote, name, state, files, new.dirs, objects, latest, force)
        if found:
            # A gc that looked at one of them just before its renewal may have deleted it since:
            # re-create any that is gone, now that the manifest protects it.
            sent += upload(remote.objects, found, workers, Progress(0, "", False))
        state.pending = None
        _remember(home, name, state, local_files, dirs, hashes, version, remote.url)
        log.info("pushed %s@%s: %d files, %d bytes uploaded", name, version, len(files), sent)
        return PushReport(name, version, sent, total, len(files), False, time.monotonic() - started)


def _recover_pending(remote: Remote, name: str, state: State, latest: int | None) -> None:
    """Adopt `latest` as this copy's version when the last push of this copy published it, then
    died before recording it (the manifest's bytes are the ones it was about to publish)."""
    pending = state.pending
    if pending and latest is not None and pending.version == latest and pending.remote == remote.url:
        if hashlib.sha256(remote.manifest_bytes(name, latest)).hexdigest() == pending.manifest_sha256:
            state.version, state.remote = latest, remote.url
    state.pending = None


def _new_version(remote: Remote, name: str, path: Path, state: State, local_files: list[LocalFile],
                 dirs: list[str], hashes: dict[str, tuple[str, Any]], latest: int | None) -> _NewVersion:
    """The files and empty folders of the version to push, with the manifests it builds on."""
    latest_manifest = remote.manifest(name, latest) if latest else None
    base_manifest = latest_manifest
    if state.version and state.version != latest and state.remote == remote.url:
        try:
            base_manifest = remote.manifest(name, state.version)
        except NotFoundError:
            base_manifest = latest_manifest

    entries = {f.rel: FileEntry(f.rel, f.size, hashes[f.rel][0], f.executable) for f in local_files}
    all_dirs = set(dirs)
    if state.partitions is not None and base_manifest is not None:
        # A partial copy: partitions that were not pulled travel on unchanged from its base.
        have = set(validate_dataset_dir(path))
        for fe in base_manifest.files:
            p = partition_of(fe.path)
            if p is not None and p not in have and fe.path not in entries:
                entries[fe.path] = fe
        all_dirs |= {d for d in base_manifest.dirs if partition_of(d, folder=True) not in have}
    return _NewVersion([entries[k] for k in sorted(entries)], all_dirs, latest_manifest, base_manifest)


def _check_conflict(remote: Remote, name: str, state: State, latest: int | None, force: bool) -> None:
    """ConflictError when the remote's latest version is not the one this copy is based on."""
    if latest is None or state.version == latest or force:
        return
    if state.version is None or state.remote != remote.url:
        raise ConflictError(
            f"{remote.url} already has {name}@{latest} and your copy was not pulled from it: "
            f"pull it first, or push -f to publish yours as {name}@{latest + 1}"
        )
    raise ConflictError(
        f"{remote.url} has {name}@{latest} but your copy is based on @{state.version} (someone pushed "
        f"meanwhile): pull and redo your change, or push -f to publish yours as a newer version"
    )


def _plan_objects(new: _NewVersion, path: Path, local_files: list[LocalFile], hashes: dict[str, tuple[str, Any]],
                  workers: int, name: str) -> tuple[list[FileEntry], dict[str, int], list[Upload]]:
    """The version's files with their parts, the objects it names with their sizes, and the
    uploads of content that neither the latest nor the base version has."""
    known: dict[str, tuple[Part, ...]] = {}
    known_objects: dict[str, int] = {}
    for m in (new.latest, new.base):
        if m is None:
            continue
        for fe in m.files:
            known.setdefault(fe.sha256, fe.parts)
        known_objects.update(m.objects)
    fresh = [NewFile(os.path.join(path, f.rel), f.size, *hashes[f.rel], group_of(f.rel)) for f in local_files
             if f.size > 0 and hashes[f.rel][0] not in known]
    parts, uploads = plan_uploads(fresh, workers)
    log.debug("%s: %d files, %d with new content, %d objects to upload (%d bytes) with %d workers",
              name, len(new.files), len(fresh), len(uploads), sum(u.size for u in uploads), workers)
    known.update(parts)
    files = [fe if fe.parts or fe.size == 0 else FileEntry(fe.path, fe.size, fe.sha256, fe.executable, known[fe.sha256])
             for fe in new.files]
    objects = {u.obj: u.size for u in uploads}
    for fe in files:
        for p in fe.parts:
            if p.obj not in objects:
                objects[p.obj] = known_objects[p.obj]
    return files, objects, uploads


def _upload_and_renew(remote: Remote, name: str, uploads: list[Upload], workers: int,
                      quiet: bool | None) -> tuple[int, list]:
    """Upload the new objects; renew the age of those already there.  Returns the bytes sent
    and the objects that were found already on the remote."""
    with Progress(sum(u.size for u in uploads), f"push {name}", None if quiet is None else not quiet) as bar:
        found: list = []
        sent = upload(remote.objects, uploads, workers, bar, found)
    if found:
        # Objects already on the remote that no version this push builds on names (leftovers of
        # an interrupted push, or another dataset's): a gc may judge them orphans right now.  Renewing
        # their age before the manifest names them makes such a gc keep them; any it already deleted
        # are uploaded again.
        sent += upload(remote.objects, renew(remote.objects, found, workers), workers, Progress(0, "", False))
    return sent, found


def _publish(home: Home, remote: Remote, name: str, state: State, files: list[FileEntry], dirs: set[str],
             objects: dict[str, int], latest: int | None, force: bool) -> int:
    """Create the manifest of the next version number (with force, of the next free one after a
    lost race); the pending publish is saved first, so a push killed after it is recognized."""
    version = (latest or 0) + 1
    while True:
        manifest = Manifest(
            name=name, version=version, files=files, dirs=sorted(dirs), objects=objects,
            parent=latest, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            author=_author(), tool=f"etcetera {__version__}",
        )
        raw = remote.stage(manifest)  # the metadata shards go up first; `raw` is the root
        state.pending = Pending(version, hashlib.sha256(raw).hexdigest(), remote.url)
        home.save_state(name, state)  # so a push killed after publishing is recognized next time
        try:
            remote.publish(manifest, raw)
            return version
        except ConflictError:
            if not force:
                raise
            version = (remote.latest(name) or version) + 1


def _author() -> str:
    try:
        import getpass  # only a push needs it

        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{os.uname().nodename}"


def _hash_all(root: Path, files: list[LocalFile], state: State) -> dict[str, tuple[str, Any]]:
    """Content ids of every file, from the state cache where the file is unchanged, else computed
    in parallel: small files in batches, the chunks of a large file each on their own."""
    out: dict[str, tuple[str, Any]] = {}
    batches: list[list[LocalFile]] = []
    chunked: list[LocalFile] = []
    batch_bytes = 0
    for f in files:
        cached = state.cached_hash(f)
        if cached is not None and (f.size <= CHUNK or (cached[1] and cached[0] == chunk_list_id(cached[1]))):
            out[f.rel] = cached
        elif f.size == 0:
            out[f.rel] = (EMPTY_SHA256, None)
        elif f.size > CHUNK:
            chunked.append(f)
        else:
            # Batches of about 8 MiB: one pool task per file costs more than hashing a few KiB.
            if not batches or batch_bytes >= 8 << 20:
                batches.append([])
                batch_bytes = 0
            batches[-1].append(f)
            batch_bytes += f.size
    if not batches and not chunked:
        return out

    def hash_batch(batch: list[LocalFile]) -> list[str]:
        return [hash_range(root / f.rel, 0, f.size) for f in batch]

    with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2)), thread_name_prefix="etc-hash") as pool:
        pieces = {f.rel: [pool.submit(hash_range, root / f.rel, offset, length) for offset, length in chunk_ranges(f.size)]
                  for f in chunked}
        for batch, shas in zip(batches, pool.map(hash_batch, batches)):
            for f, sha in zip(batch, shas):
                out[f.rel] = (sha, None)
        for rel, futures in pieces.items():
            chunks = tuple(fut.result() for fut in futures)
            out[rel] = (chunk_list_id(chunks), chunks)
    return out


def _remember(home: Home, name: str, state: State, files: Iterable[LocalFile], dirs: list[str],
              hashes: dict, version: int, remote_url: str) -> None:
    """Record the version the copy now is, with every file's stat and content id."""
    before = (state.version, state.remote, state.files, state.dirs)
    state.version = version
    state.remote = remote_url
    state.dirs = sorted(dirs)
    state.files = {}
    for f in files:
        state.remember(f, *hashes[f.rel])
    if (state.version, state.remote, state.files, state.dirs) != before:  # an up-to-date push writes nothing
        home.save_state(name, state)
