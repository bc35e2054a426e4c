"""Publishing a folder: `register` hashes while it copies (the push after it reads the copy only to
upload), and `push --from DIR` publishes a folder without copying it into the home."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

import etcetera as etc
from etcetera.dataset import LocalFile, scan_files
from etcetera.errors import DatasetError
from etcetera.home import Home
from etcetera.packing import CHUNK, hash_file
from etcetera.packing import NewFile

from test_cli import run


def _snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file's bytes, mtime and mode: what 'never modified' means."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(root))] = (hashlib.sha256(p.read_bytes()).digest(), st.st_mtime_ns, st.st_mode)
    return out


def _contents(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mode (a pull writes new mtimes)."""
    return {k: (h, mode) for k, (h, _, mode) in _snapshot(root).items()}


def _disk_bytes(root: Path) -> int:
    """Bytes the files under `root` take on disk (allocated blocks)."""
    return sum(p.lstat().st_blocks * 512 for p in root.rglob("*") if p.is_file())


@pytest.fixture
def varied(make_dataset) -> Path:
    """Small, empty, executable, chunked (> 16 MiB) files, an empty folder and a file outside data/."""
    src = make_dataset("varied", {"train/a.txt": b"alpha\n", "train/sub/empty": b"", "test/b.bin": os.urandom(5000)},
                       meta={"k": 1}, extra={"README": b"read me\n"})
    (src / "data" / "train" / "big.bin").write_bytes(os.urandom(CHUNK + 12345))
    os.chmod(src / "data" / "test" / "b.bin", 0o755)
    (src / "data" / "test" / "nothing").mkdir()
    return src


def test_register_records_the_content_ids_of_the_copy(file_remote, varied):
    cfg = file_remote.config()
    before = _snapshot(varied)
    ds = etc.register(varied, "v", config=cfg)
    assert _snapshot(varied) == before  # the source is only read
    assert _snapshot(ds.path) == before  # same bytes, mtimes and modes
    assert (ds.path / "data" / "test" / "nothing").is_dir()
    state = Home(Path(cfg.home_path)).load_state("v")
    assert state is not None and state.version is None and state.dirs is None and not state.files
    files, _ = scan_files(ds.path)
    assert len(files) == 6
    for f in files:  # the hash cache holds exactly what hashing the copy gives
        assert state.cached_hash(f) == hash_file(ds.path / f.rel, f.size), f.rel
    etc.push("v", config=cfg)
    assert etc.verify("v", config=cfg).ok
    assert _contents(etc.pull("v", config=file_remote.config("other")).path) == _contents(varied)


@pytest.mark.parametrize("sizes", [[0, 1, 4096], [(1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 7]],
                         ids=["small files, copied inline", "around the 1 MiB read, copied by the pool"])
def test_register_copies_and_hashes_every_size_exactly(file_remote, make_dataset, sizes):
    """A file read whole in one read, one that needs more reads, and runs copied by the walking
    thread or the pool: the same bytes, mtimes and modes, and content ids equal to a re-hash."""
    src = make_dataset("sizes", {f"train/f{i}.bin": os.urandom(n) for i, n in enumerate(sizes)})
    os.chmod(src / "data" / "train" / "f1.bin", 0o755)
    before = _snapshot(src)
    ds = etc.register(src, "sizes", config=file_remote.config())
    assert _snapshot(ds.path) == before
    state = Home(Path(file_remote.config().home_path)).load_state("sizes")
    files, _ = scan_files(ds.path)
    assert sorted(f.size for f in files) == sorted(sizes)
    for f in files:
        assert state.cached_hash(f) == hash_file(ds.path / f.rel, f.size), f.rel


def test_push_after_register_uses_the_hash_cache(file_remote, make_dataset):
    """The push does not read the copy to hash it: a byte changed behind an unchanged stat (size,
    mtime, inode) is not noticed, which proves the cached content id was used."""
    src = make_dataset("c", {"train/a.txt": b"one\n", "train/b.txt": b"two\n"})
    cfg = file_remote.config()
    ds = etc.register(src, "c", config=cfg)
    target = ds.path / "data" / "train" / "a.txt"
    st = target.stat()
    with open(target, "r+b") as fh:
        fh.write(b"ONE\n")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert target.stat().st_ino == st.st_ino
    etc.push("c", config=cfg)
    entry = etc.Repository(cfg).remote.manifest("c", 1).files[0]
    assert entry.path == "data/train/a.txt" and entry.sha256 == hashlib.sha256(b"one\n").hexdigest()


def test_register_cache_does_not_go_stale(file_remote, make_dataset):
    """An edit of the registered copy (new mtime or size) is hashed again; so is the next register."""
    src = make_dataset("s", {"train/a.txt": b"one\n", "train/b.txt": b"two\n"})
    cfg = file_remote.config()
    ds = etc.register(src, "s", config=cfg)
    (ds.path / "data" / "train" / "a.txt").write_bytes(b"edited in the home\n")
    etc.push("s", config=cfg)
    other = file_remote.config("other")
    assert (etc.pull("s", config=other).path / "data" / "train" / "a.txt").read_bytes() == b"edited in the home\n"
    (src / "data" / "train" / "b.txt").write_bytes(b"edited in the source\n")
    assert (ds.path / "data" / "train" / "b.txt").read_bytes() == b"two\n"  # the copy is a copy
    etc.register(src, "s", config=cfg, force=True)
    assert etc.push("s", config=cfg) == "s@2"
    pulled = etc.pull("s", config=other).path / "data" / "train"
    assert (pulled / "a.txt").read_bytes() == b"one\n" and (pulled / "b.txt").read_bytes() == b"edited in the source\n"
    assert etc.push_report("s", config=cfg).up_to_date


def test_register_over_a_pulled_copy_still_guards_a_pull(file_remote, make_dataset):
    """The hash cache is not the base version's content: a registered folder that differs from the
    pulled version is still a local change that a pull refuses to overwrite."""
    src = make_dataset("g", {"train/a.txt": b"v1\n"})
    cfg = file_remote.config()
    etc.register(src, "g", config=cfg)
    etc.push("g", config=cfg)
    (src / "data" / "train" / "a.txt").write_bytes(b"v2, never pushed\n")
    etc.register(src, "g", config=cfg, force=True)
    with pytest.raises(DatasetError, match="local g has changes"):
        etc.pull("g", config=cfg)
    assert etc.status("g", config=cfg).modified[0].path == "data/train/a.txt"


def test_push_from_a_folder_writes_no_copy(file_remote, make_dataset):
    files = {f"train/{i:03d}.bin": os.urandom(64 << 10) for i in range(64)}
    src = make_dataset("big", files)
    cfg = file_remote.config()
    before = _snapshot(src)
    report = etc.push_report("big", config=cfg, source=src)
    assert report.ref == "big@1" and report.files == 64
    assert _snapshot(src) == before
    home = Path(cfg.home_path)
    assert not (home / "big").exists()
    size = sum(len(b) for b in files.values())
    assert _disk_bytes(home) <= size // 10, _disk_bytes(home)  # the home keeps a state, not the data
    assert _contents(etc.pull("big", config=file_remote.config("other")).path) == _contents(src)
    again = etc.push_report("big", config=cfg, source=src)
    assert again.up_to_date and again.ref == "big@1"
    again = etc.push_report("big", config=cfg)  # no home copy: the folder it was last pushed from
    assert again.up_to_date and again.ref == "big@1"
    (src / "data" / "train" / "000.bin").write_bytes(b"changed")
    assert etc.push("big", config=cfg, source=src) == "big@2"
    assert (etc.pull("big", config=file_remote.config("other")).path / "data/train/000.bin").read_bytes() == b"changed"
    shutil.rmtree(src)
    with pytest.raises(DatasetError, match="not in"):
        etc.push("big", config=cfg)


def test_push_from_builds_on_the_last_version_from_any_folder(file_remote, make_dataset, tmp_path):
    """A pipeline that writes each run's output to a new folder pushes it without a conflict; a
    version pushed meanwhile by someone else is still a conflict."""
    cfg = file_remote.config()
    one = make_dataset("run", {"train/a.txt": b"1\n"}, root=tmp_path / "run1")
    two = make_dataset("run", {"train/a.txt": b"2\n"}, root=tmp_path / "run2")
    assert etc.push("d", config=cfg, source=one) == "d@1"
    assert etc.push("d", config=cfg, source=two) == "d@2"
    other = make_dataset("x", {"train/a.txt": b"other\n"})
    etc.pull("d", config=file_remote.config("someone"))
    etc.register(other, "d", config=file_remote.config("someone"), force=True)
    etc.push("d", config=file_remote.config("someone"))
    with pytest.raises(etc.ConflictError):
        etc.push("d", config=cfg, source=one)
    assert etc.push("d", config=cfg, source=one, force=True) == "d@4"


def test_push_from_refuses_a_file_changed_during_its_upload(tmp_path):
    from etcetera.push import _check_unchanged

    root = tmp_path / "ds"
    (root / "data" / "t").mkdir(parents=True)
    p = root / "data" / "t" / "a"
    p.write_bytes(b"12345")
    st = p.stat()
    listed = LocalFile("data/t/a", st.st_size, st.st_mtime_ns, st.st_ino, False)
    uploaded = [NewFile(str(p), 5, "0" * 64, None, "data/t")]
    _check_unchanged(root, [listed], uploaded)  # unchanged: fine
    p.write_bytes(b"123456")
    with pytest.raises(DatasetError, match="changed while it was being pushed"):
        _check_unchanged(root, [listed], uploaded)
    _check_unchanged(root, [listed], [])  # not uploaded in this batch: not checked


def test_cli_push_from(file_remote, make_dataset, tmp_path):
    src = make_dataset("cli", {"train/a.txt": b"a\n"})
    cfg = file_remote.toml()
    proc = run("--config", str(cfg), "push", "cli", "--from", str(src), cwd=tmp_path, home=tmp_path)
    assert "pushed cli@1" in proc.stdout
    assert not (Path(file_remote.config().home_path) / "cli").exists()
