"""Old remotes (etcetera 0.0.x): one `<name>.tgz` per dataset at the root, listed and pulled
safely on every backend.  The archives are written here with Python's tarfile, hostile ones included."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest

import etcetera as etc
from etcetera import legacy
from etcetera.storage import BytesSource, open_storage


def _tgz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def _file(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def _dir(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    return info, None


def _clean_archive(wrapped: bool) -> bytes:
    top = "mnist/" if wrapped else ""
    members = [
        *([_dir("mnist")] if wrapped else []),
        _dir(f"{top}data"), _dir(f"{top}data/train"), _dir(f"{top}data/test"),
        _file(f"{top}data/train/a.txt", b"alpha"),
        _file(f"{top}data/train/run.sh", b"#!/bin/sh\n", 0o755),
        _file(f"{top}data/test/deep/b.txt", b"beta"),
        _file(f"{top}meta.json", json.dumps({"source": "0.0.x"}).encode()),
        _file(f"{top}README", b"old readme"),
        _special(f"{top}data/test/same.txt", tarfile.LNKTYPE, f"{top}data/test/deep/b.txt"),
        _special(f"{top}data/train/alias.txt", tarfile.SYMTYPE, "a.txt"),
    ]
    return _tgz(members)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("wrapped", [True, False], ids=["wrapped-in-a-folder", "flat"])
def test_old_tgz_is_listed_and_pulled(remote, wrapped):
    cfg = remote.config()
    storage = open_storage(cfg)
    storage.put("mnist.tgz", BytesSource(_clean_archive(wrapped)))
    storage.put("notes.txt", BytesSource(b"not a dataset"))
    storage.put("sub/inner.tgz", BytesSource(b"not at the root"))
    storage.put("bad name!.tgz", BytesSource(b"not a valid name"))
    assert legacy.legacy_names(storage) == ["mnist"]
    assert legacy.legacy_exists(storage, "mnist") and not legacy.legacy_exists(storage, "notes")
    assert etc.ls(remote=True, config=cfg) == ["mnist"]

    ds = etc.pull("mnist", config=cfg)
    assert ds.version is None
    assert _tree(ds.path) == {
        "README": b"old readme", "meta.json": b'{"source": "0.0.x"}',
        "data/test/deep/b.txt": b"beta", "data/test/same.txt": b"beta",
        "data/train/a.txt": b"alpha", "data/train/alias.txt": b"alpha", "data/train/run.sh": b"#!/bin/sh\n",
    }
    assert not (ds["train"] / "alias.txt").is_symlink()  # links inside become plain copies
    assert (ds["train"] / "run.sh").stat().st_mode & 0o100
    assert ds.meta == {"source": "0.0.x"} and ds.keys() == ["test", "train"]
    # An old dataset lives on as a normal one: push publishes it in the current format.
    assert etc.push("mnist", config=cfg) == "mnist@1"
    assert etc.ls(remote=True, config=cfg) == ["mnist"]
    assert etc.versions("mnist", config=cfg) == [1]


ESCAPE = Path(f"/tmp/etc-legacy-escape-{uuid.uuid4().hex[:8]}.txt")  # an absolute path nothing may create
HOSTILE = {
    "absolute-path": ([_file(str(ESCAPE), b"pwned")], "absolute path"),
    "dot-dot": ([_file("data/train/../../../escape.txt", b"pwned")], "'..'"),
    "dot-dot-wrapped": ([_dir("w"), _dir("w/data"), _file("w/../escape.txt", b"pwned")], "'..'"),
    "symlink-out": ([_dir("data"), _special("data/train", tarfile.SYMTYPE, "../../outside"),
                     _file("data/train/escape.txt", b"pwned")], "pointing outside"),
    "symlink-absolute": ([_dir("data/train"), _special("data/train/passwd", tarfile.SYMTYPE, "/etc/passwd")],
                         "pointing outside"),
    "hardlink-out": ([_dir("data/train"), _special("data/train/h", tarfile.LNKTYPE, "../../outside/secret")],
                     "pointing outside"),
    "char-device": ([_dir("data/train"), _special("data/train/null", tarfile.CHRTYPE)], "device or fifo"),
    "fifo": ([_dir("data/train"), _special("data/train/pipe", tarfile.FIFOTYPE)], "device or fifo"),
}


@pytest.fixture
def escape_path() -> Iterator[Path]:
    """Should extraction regress and write ESCAPE, the test fails and this removes it from /tmp."""
    yield ESCAPE
    ESCAPE.unlink(missing_ok=True)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_old_tgz_is_refused_and_nothing_is_written_outside(remote, case, tmp_path, escape_path):
    members, reason = HOSTILE[case]
    # The home sits a few levels down, so that an escape of several '..' still lands inside
    # tmp_path, which is all this test looks at (not the folders of other tests).
    cfg = remote.config("deep/down/home")
    storage = open_storage(cfg)
    storage.put("evil.tgz", BytesSource(_tgz([*members, _file("data/test/ok.txt", b"ok")])))
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(b"secret")
    cfg.home_path.mkdir(parents=True)
    bookkeeping = cfg.home_path / ".etc"  # the only thing a refused pull may write

    def outside() -> set[Path]:
        return {p for p in tmp_path.rglob("*") if p != bookkeeping and bookkeeping not in p.parents}

    before = outside()
    with pytest.raises(etc.FormatError) as info:
        etc.pull("evil", config=cfg)
    msg = str(info.value)
    assert "evil.tgz" in msg and reason in msg and "refused" in msg and "\n" not in msg
    assert repr(members[-1][0].name) in msg or any(repr(m[0].name) in msg for m in members)
    assert outside() == before
    assert not escape_path.exists()
    home = cfg.home_path
    assert not (home / "evil").exists()
    assert not any(p.is_file() for p in (home / ".etc" / "tmp").rglob("*"))


def test_extract_into_a_directory_directly(tmp_path):
    storage = open_storage(etc.Config(f"file://{tmp_path / 'remote'}"))
    storage.put("ds.tgz", BytesSource(_clean_archive(wrapped=True)))
    dest = tmp_path / "out" / "ds"
    legacy.extract(storage, "ds", dest)
    assert sorted(_tree(dest)) == ["README", "data/test/deep/b.txt", "data/test/same.txt", "data/train/a.txt",
                                   "data/train/alias.txt", "data/train/run.sh", "meta.json"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ds"]  # the download left no file beside it
    with pytest.raises(etc.DatasetError, match="not empty"):
        legacy.extract(storage, "ds", dest)
    storage.put("broken.tgz", BytesSource(b"\x1f\x8b not really gzip"))
    with pytest.raises(etc.FormatError, match="broken.tgz .* not a readable tar archive"):
        legacy.extract(storage, "broken", tmp_path / "out" / "broken")


def test_a_wrapper_without_data_is_not_stripped(tmp_path):
    storage = open_storage(etc.Config(f"file://{tmp_path / 'remote'}"))
    storage.put("odd.tgz", BytesSource(_tgz([_dir("stuff"), _file("stuff/x.txt", b"x")])))
    dest = tmp_path / "odd"
    legacy.extract(storage, "odd", dest)
    assert _tree(dest) == {"stuff/x.txt": b"x"}


def test_cli_lists_and_pulls_an_old_dataset(remote, capsys):
    from etcetera.cli.main import main as etc_main

    toml = remote.toml()
    open_storage(etc.Config.load(toml)).put("old.tgz", BytesSource(_clean_archive(wrapped=True)))
    assert etc_main(["--config", str(toml), "list", "-r"]) == 0
    assert "old\t(0.0.x archive)" in capsys.readouterr().out
    assert etc_main(["-q", "--config", str(toml), "pull", "old"]) == 0
    assert (etc.Config.load(toml).home_path / "old" / "data" / "train" / "a.txt").read_bytes() == b"alpha"
    assert etc_main(["--config", str(toml), "pull", "old"]) == 1  # a local copy is never silently replaced
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("etc: error: ") and "pull -f" in err


def test_requires_python_admits_no_interpreter_without_tarfile_filters():
    """Safe extraction uses tarfile's 'data' filter, new in 3.11.4: the declared floor says so."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    for pyproject in [root / "pyproject.toml", *sorted(root.glob("integrations/*/pyproject.toml"))]:
        spec = tomllib.loads(pyproject.read_text())["project"]["requires-python"]
        assert spec.replace(" ", "") == ">=3.11.4", f"{pyproject}: {spec}"
