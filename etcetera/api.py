"""The public Python API: what the `etc` command and the orchestrator plugins call."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import __version__
from .config import Config
from .dataset import Dataset, LocalFile, partition_of, scan_files, summarize, validate_dataset_dir
from .errors import ConflictError, DatasetError, EtcError, NotFoundError
from .home import Home, State
from .manifest import EMPTY_SHA256, FileEntry, Manifest, Part
from .names import check_name, parse_ref
from .packing import CHUNK, NewFile, chunk_list_id, chunk_ranges, group_of, hash_file, hash_range, plan_uploads
from .progress import Progress
from .remote import Remote
from .storage import open_storage
from .transfer import download, renew, upload

log = logging.getLogger("etcetera")


@dataclass
class PushReport:
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
class PullReport:
    dataset: Dataset
    downloaded_bytes: int
    reused_files: int
    files: int
    up_to_date: bool
    seconds: float


def _config(config: Config | None) -> Config:
    return config if config is not None else Config.load()


def _home(config: Config) -> Home:
    return Home(config.home_path)


def _remote(config: Config) -> Remote:
    return Remote(open_storage(config))


# ---------------------------------------------------------------- local commands


def dataset(name: str, auto_pull: bool = False, config: Config | None = None) -> Dataset:
    """The local dataset `name` (or `name@version`); with auto_pull, fetch it when it is not here."""
    name, version = parse_ref(name)
    cfg = _config(config)
    home = _home(cfg)
    if home.exists(name):
        state = home.load_state(name)
        have = state.version if state else None
        if version is None or version == have:
            return Dataset(name, home.path(name), have)
        if not auto_pull:
            raise DatasetError(f"local {name} is version {have}, not {version}: etc pull {name}@{version}")
    elif not auto_pull:
        raise DatasetError(
            f"dataset {name!r} is not in {home.root}: run `etc pull {name}` or pass auto_pull=True"
        )
    return pull(f"{name}@{version}" if version else name, config=cfg)


def register(path: str | os.PathLike, name: str | None = None, *, config: Config | None = None,
             force: bool = False) -> Dataset:
    """Copy the dataset folder `path` into the home as `name` (default: the folder's name)."""
    src = Path(path).expanduser().absolute()
    name = check_name(name if name is not None else src.name)
    validate_dataset_dir(src)
    scan_files(src)  # refuse links and special files before copying anything
    cfg = _config(config)
    home = _home(cfg)
    with home.lock(name):
        if home.path(name).exists() and not force:
            raise DatasetError(f"{name} is already registered in {home.root}: use -f to replace it")
        if home.path(name).resolve() == src.resolve():
            return Dataset(name, src, (home.load_state(name) or State()).version)
        staged = home.staging(name)
        try:
            shutil.copytree(src, staged, dirs_exist_ok=True, symlinks=True)
            home.install(name, staged)
        except OSError as exc:
            shutil.rmtree(staged, ignore_errors=True)
            raise DatasetError(f"cannot copy {src} into {home.root}: {exc.strerror or exc}") from None
        old = home.load_state(name)
        # Keep the version it was based on, so the next push is an ordinary new version.
        home.save_state(name, State(version=old.version if old else None, remote=old.remote if old else None))
    return Dataset(name, home.path(name), old.version if old else None)


def create(name: str, partitions: Sequence[str] = ("train", "test"), *, config: Config | None = None,
           force: bool = False) -> Dataset:
    """An empty dataset with the given partition folders, ready to fill."""
    check_name(name)
    if isinstance(partitions, str):
        partitions = [partitions]
    if not partitions:
        raise DatasetError("a dataset needs at least one partition")
    for p in partitions:
        check_name(p, "partition name")
    cfg = _config(config)
    home = _home(cfg)
    with home.lock(name):
        if home.path(name).exists() and not force:
            raise DatasetError(f"{name} already exists in {home.root}: use -f to replace it")
        staged = home.staging(name)
        for p in partitions:
            (staged / "data" / p).mkdir(parents=True, exist_ok=True)
        home.install(name, staged)
        home.drop_state(name)
    return Dataset(name, home.path(name))


def purge(name: str, *, config: Config | None = None) -> None:
    """Delete the local copy of `name` (the remote is untouched)."""
    check_name(name)
    home = _home(_config(config))
    with home.lock(name):
        if not home.path(name).exists():
            raise DatasetError(f"{name} is not in {home.root}: nothing to purge (etc list shows what is)")
        home.remove(name)


def ls(remote: bool = False, *, config: Config | None = None) -> list[str]:
    """Names of local datasets, or of the remote's datasets."""
    cfg = _config(config)
    if not remote:
        return _home(cfg).names()
    return list(list_remote(cfg))


def list_remote(config: Config) -> dict[str, int | None]:
    """Remote datasets with their latest version."""
    r = _remote(config)
    found: dict[str, int | None] = dict(r.names())
    try:
        from . import legacy
    except ImportError:
        return found
    for name in legacy.legacy_names(r.storage):
        found.setdefault(name, None)
    return dict(sorted(found.items()))


def versions(name: str, *, config: Config | None = None) -> list[int]:
    """The remote's versions of `name`, newest first."""
    check_name(name)
    return _remote(_config(config)).versions(name)


def info(ref: str, *, remote: bool = False, config: Config | None = None) -> dict[str, Any]:
    """Summary of a dataset: partitions with file counts and bytes, version, and for remote
    versions when and by whom it was pushed."""
    name, version = parse_ref(ref)
    cfg = _config(config)
    if not remote:
        ds = dataset(name, config=cfg)
        if version is not None and ds.version != version:
            raise DatasetError(f"local {name} is version {ds.version}; use -r for {ref} on the remote")
        out = ds.summary()
        out["path"] = str(ds.path)
        return out
    r = _remote(cfg)
    version = version or r.latest(name)
    if version is None:
        raise NotFoundError(f"{name} is not on {r.url}: etc list -r shows what is")
    m = r.manifest(name, version)
    out = summarize(name, version, ((f.path, f.size) for f in m.files), m.partitions())
    out.update(created=m.created, author=m.author, remote=r.url)
    return out


def gc(*, config: Config | None = None, grace_hours: float | None = None, dry_run: bool = False):
    """Delete remote objects that no version references and that are older than the grace period."""
    from . import gc as _gc

    cfg = _config(config)
    grace = _gc.DEFAULT_GRACE_HOURS if grace_hours is None else grace_hours
    return _gc.collect(_remote(cfg), grace, dry_run, cfg.worker_count)


# ---------------------------------------------------------------- push


def push(name: str, *, config: Config | None = None, force: bool = False, quiet: bool | None = None) -> str:
    """Publish the local dataset `name` as a new version; return 'name@version'."""
    return push_report(name, config=config, force=force, quiet=quiet).ref


def push_report(name: str, *, config: Config | None = None, force: bool = False,
                quiet: bool | None = None) -> PushReport:
    started = time.monotonic()
    check_name(name)
    cfg = _config(config)
    home = _home(cfg)
    if not home.path(name).exists():
        raise DatasetError(f"{name} is not in {home.root}: etc register DIR {name} first")
    r = _remote(cfg)
    home.clean_leftovers()
    with home.lock(name):
        path = home.path(name)
        validate_dataset_dir(path)
        state = home.load_state(name) or State()
        local_files, dirs = scan_files(path)
        latest = r.latest(name)
        pending = state.pending if isinstance(state.pending, list) and len(state.pending) == 3 else None
        if pending and latest is not None and pending[0] == latest and pending[2] == r.url:
            # The last push of this copy published `latest`, then died before recording it.
            if hashlib.sha256(r.manifest(name, latest).to_bytes()).hexdigest() == pending[1]:
                state.version, state.remote = latest, r.url
        state.pending = None
        if latest is not None and latest == state.version and state.remote == r.url \
                and state.unchanged(local_files, dirs):
            # Nothing changed since this copy was pushed or pulled as the latest version.
            total = sum(f.size for f in local_files)
            return PushReport(name, latest, 0, total, len(local_files), True, time.monotonic() - started)
        hashes = _hash_all(path, local_files, state)
        latest_manifest = r.manifest(name, latest) if latest else None
        base_manifest = latest_manifest
        if state.version and state.version != latest and state.remote == r.url:
            try:
                base_manifest = r.manifest(name, state.version)
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

        files = [entries[k] for k in sorted(entries)]
        content = {f.content_key() for f in files} | {("dir", d) for d in all_dirs}
        total = sum(f.size for f in files)
        if latest_manifest is not None and content == latest_manifest.content():
            _remember(home, name, state, local_files, dirs, hashes, latest, r.url)
            return PushReport(name, latest, 0, total, len(files), True, time.monotonic() - started)
        if latest is not None and state.version != latest and not force:
            if state.version is None or state.remote != r.url:
                raise ConflictError(
                    f"{r.url} already has {name}@{latest} and your copy was not pulled from it: "
                    f"pull it first, or push -f to publish yours as {name}@{latest + 1}"
                )
            raise ConflictError(
                f"{r.url} has {name}@{latest} but your copy is based on @{state.version} (someone pushed "
                f"meanwhile): pull and redo your change, or push -f to publish yours as a newer version"
            )

        known: dict[str, tuple[Part, ...]] = {}
        known_objects: dict[str, int] = {}
        for m in (latest_manifest, base_manifest):
            if m is None:
                continue
            for fe in m.files:
                known.setdefault(fe.sha256, fe.parts)
            known_objects.update(m.objects)
        fresh = [NewFile(os.path.join(path, f.rel), f.size, *hashes[f.rel], group_of(f.rel)) for f in local_files
                 if f.size > 0 and hashes[f.rel][0] not in known]
        parts, uploads = plan_uploads(fresh, cfg.worker_count)
        log.debug("%s: %d files, %d with new content, %d objects to upload (%d bytes) with %d workers",
                  name, len(files), len(fresh), len(uploads), sum(u.size for u in uploads), cfg.worker_count)
        known.update(parts)
        files = [fe if fe.parts or fe.size == 0 else FileEntry(fe.path, fe.size, fe.sha256, fe.executable, known[fe.sha256])
                 for fe in files]
        objects = {u.obj: u.size for u in uploads}
        for fe in files:
            for p in fe.parts:
                if p.obj not in objects:
                    objects[p.obj] = known_objects[p.obj]

        with Progress(sum(u.size for u in uploads), f"push {name}", None if quiet is None else not quiet) as bar:
            found: list = []
            sent = upload(r.objects, uploads, cfg.worker_count, bar, found)
        if found:
            # Objects already on the remote that no version this push builds on names (leftovers of
            # an interrupted push, or another dataset's): a gc may judge them orphans right now.  Renewing their age before the manifest names them makes
            # such a gc keep them; any it already deleted are uploaded again.
            sent += upload(r.objects, renew(r.objects, found, cfg.worker_count), cfg.worker_count,
                           Progress(0, "", False))

        version = (latest or 0) + 1
        while True:
            manifest = Manifest(
                name=name, version=version, files=files, dirs=sorted(all_dirs), objects=objects,
                parent=latest, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                author=_author(), tool=f"etcetera {__version__}",
            )
            raw = manifest.to_bytes()
            state.pending = [version, hashlib.sha256(raw).hexdigest(), r.url]
            home.save_state(name, state)  # so a push killed after publishing is recognized next time
            try:
                r.publish(manifest, raw)
                break
            except ConflictError:
                if not force:
                    raise
                version = (r.latest(name) or version) + 1
        if found:
            # A gc that looked at one of them just before its renewal may have deleted it since:
            # re-create any that is gone, now that the manifest protects it.
            sent += upload(r.objects, found, cfg.worker_count, Progress(0, "", False))
        state.pending = None
        _remember(home, name, state, local_files, dirs, hashes, version, r.url)
        log.info("pushed %s@%s: %d files, %d bytes uploaded", name, version, len(files), sent)
        return PushReport(name, version, sent, total, len(files), False, time.monotonic() - started)


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
    before = (state.version, state.remote, state.files, state.dirs)
    state.version = version
    state.remote = remote_url
    state.dirs = sorted(dirs)
    state.files = {}
    for f in files:
        state.remember(f, *hashes[f.rel])
    if (state.version, state.remote, state.files, state.dirs) != before:  # an up-to-date push writes nothing
        home.save_state(name, state)


# ---------------------------------------------------------------- pull


def pull(ref: str, *, config: Config | None = None, force: bool = False,
         partitions: Sequence[str] | None = None, quiet: bool | None = None) -> Dataset:
    """Bring the local copy of `name[@version]` to that version (latest by default)."""
    return pull_report(ref, config=config, force=force, partitions=partitions, quiet=quiet).dataset


def pull_report(ref: str, *, config: Config | None = None, force: bool = False,
                partitions: Sequence[str] | None = None, quiet: bool | None = None) -> PullReport:
    started = time.monotonic()
    name, version = parse_ref(ref)
    if isinstance(partitions, str):
        partitions = [partitions]
    wanted = sorted(set(partitions)) if partitions else None
    for p in wanted or ():
        check_name(p, "partition name")
    cfg = _config(config)
    home = _home(cfg)
    r = _remote(cfg)
    home.clean_leftovers()
    with home.lock(name):
        target = version or r.latest(name)
        if target is None:
            return _pull_legacy(r, home, name, force, started)
        manifest = r.manifest(name, target)
        available = manifest.partitions()
        missing = [p for p in wanted or () if p not in available]
        if missing:
            raise DatasetError(f"{name}@{target} has no partition {', '.join(missing)} (it has {', '.join(available)})")
        selected = [f for f in manifest.files if wanted is None or partition_of(f.path) in (None, *wanted)]
        dirs = [d for d in manifest.dirs if wanted is None or partition_of(d, folder=True) in (None, *wanted)]

        dest = home.path(name)
        state = home.load_state(name)
        local_files: list[LocalFile] = []
        reusable: dict[str, Path] = {}
        if dest.exists():
            local_files, _ = scan_files(dest)
            edited = _local_edits(dest, local_files, state, manifest)
            if edited and not force:
                raise DatasetError(
                    f"local {name} has changes not on the remote ({edited}): push them, or pull -f to discard them"
                )
            if state and state.version == target and state.partitions == wanted and not edited:
                return PullReport(Dataset(name, dest, target), 0, len(selected), len(selected), True,
                                  time.monotonic() - started)
            for f in local_files:
                cached = state.cached_hash(f) if state else None
                if cached:
                    reusable.setdefault(cached[0], dest / f.rel)

        staged = home.staging(name)
        try:
            to_fetch = []
            reused = 0
            for fe in selected:
                src = reusable.get(fe.sha256)
                if src is not None and _link_or_copy(src, staged / fe.path):
                    reused += 1
                else:
                    to_fetch.append(fe)
            for d in dirs:
                (staged / d).mkdir(parents=True, exist_ok=True)
            nbytes = sum(f.size for f in to_fetch)
            log.debug("%s@%s: %d files, %d reused from the local copy, %d to fetch (%d bytes)",
                      name, target, len(selected), reused, len(to_fetch), nbytes)
            with Progress(nbytes, f"pull {name}@{target}", None if quiet is None else not quiet) as bar:
                download(r.objects, to_fetch, staged, f"{name}@{target}", cfg.worker_count, bar)
            for fe in selected:
                os.chmod(staged / fe.path, 0o755 if fe.executable else 0o644)
            (staged / "data").mkdir(exist_ok=True)
            new_state = State(version=target, remote=r.url, partitions=wanted)
            ids = {fe.path: (fe.sha256, tuple(p.obj for p in fe.parts) if len(fe.parts) > 1 else None)
                   for fe in selected}
            files_now, dirs_now = scan_files(staged)
            new_state.dirs = sorted(dirs_now)
            for f in files_now:
                new_state.remember(f, *ids[f.rel])
            home.install(name, staged)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        home.save_state(name, new_state)
    return PullReport(Dataset(name, dest, target), nbytes, reused, len(selected), False, time.monotonic() - started)


def _link_or_copy(src: Path, dst: Path) -> bool:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
        return True
    except OSError:
        try:
            shutil.copy2(src, dst)
            return True
        except OSError:
            return False


def _local_edits(root: Path, files: list[LocalFile], state: State | None, target: Manifest) -> str | None:
    """Describe the first local change since the last push/pull, or None when there is none."""
    # A pull killed after installing the new copy but before saving its state leaves files
    # that are exactly what the target has: those are not local edits.
    by_path = {fe.path: fe.sha256 for fe in target.files}
    if state is None:
        if files and all(f.rel in by_path and hash_file(root / f.rel, f.size)[0] == by_path[f.rel] for f in files):
            return None
        return "it was registered or created here and never pushed"
    known = dict(state.files)
    for f in files:
        entry = known.pop(f.rel, None)
        if entry is None:
            if f.rel in by_path and hash_file(root / f.rel, f.size)[0] == by_path[f.rel]:
                continue
            return f"new file {f.rel}"
        if state.cached_hash(f) is None:
            sha, _ = hash_file(root / f.rel, f.size)
            if sha != entry[3]:
                if by_path.get(f.rel) == sha:
                    continue  # already what the target has (an interrupted earlier pull)
                return f"modified {f.rel}"
    gone = [rel for rel in known if rel in by_path]  # deleting what the target drops loses nothing
    if gone:
        return f"deleted {gone[0]}"
    return None


def _pull_legacy(r: Remote, home: Home, name: str, force: bool, started: float) -> PullReport:
    try:
        from . import legacy
    except ImportError:
        legacy = None  # type: ignore[assignment]
    if legacy is None or not legacy.legacy_exists(r.storage, name):
        raise NotFoundError(f"dataset {name} is not on {r.url}: etc list -r shows what is there")
    dest = home.path(name)
    if dest.exists() and not force:
        raise DatasetError(f"{name} exists locally: pull -f to replace it with the remote's {name}.tgz")
    staged = home.staging(name)
    try:
        legacy.extract(r.storage, name, staged)
        validate_dataset_dir(staged)
        files, _ = scan_files(staged)  # refuse what a dataset may not hold before it becomes visible
        home.install(name, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    home.drop_state(name)
    return PullReport(Dataset(name, dest, None), sum(f.size for f in files), 0, len(files), False,
                      time.monotonic() - started)


__all__ = ["dataset", "register", "create", "purge", "ls", "versions", "info", "push", "pull", "gc",
           "push_report", "pull_report", "PushReport", "PullReport", "EtcError"]
