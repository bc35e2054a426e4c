"""Hostile input: old-format tarballs, forged manifests, names and bad config files.

Every case is run through the real `etc` program; it must fail with one line (or, for archives
whose links stay inside, succeed safely) and never write outside its target.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import stat
import tarfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest

import etcetera as etc
from etcetera.manifest import FORMAT

from .reltools import etc_cli, etc_cli_each, one_line_error, tree
from .stats import HOSTILE_INPUTS


# ---------------------------------------------------------------- old-format tarballs


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def _dir(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info, None


def _link(name: str, target: str, hard: bool = False) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, None


def _special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return info, None


OK = [_dir("data"), _dir("data/train"), _file("data/train/a.txt", b"alpha")]
EVIL = f"/tmp/etc-evil-{uuid.uuid4().hex[:8]}"  # an absolute path nothing may create
EVIL_DIR = EVIL + "-dir"


@pytest.fixture
def evil_paths() -> Iterator[None]:
    """Should a test fail because EVIL or EVIL_DIR was created, remove it: the suite leaves nothing in /tmp."""
    yield
    for path in (EVIL, EVIL_DIR):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)

TARBALLS = {
    "absolute-file": OK + [_file(EVIL)],
    "absolute-dir": OK + [_dir(EVIL)],
    "dotdot": OK + [_file("data/train/../../../evil.txt")],
    "dotdot-top": OK + [_file("../evil.txt")],
    "dotdot-wrapped": [_dir("ds"), _dir("ds/data"), _dir("ds/data/t"), _file("ds/../evil.txt")],
    "symlink-absolute": OK + [_link("data/train/ln", "/etc/passwd")],
    "symlink-escaping": OK + [_link("data/train/ln", "../../../../outside")],
    "symlink-dir-then-write": OK + [_link("data/esc", ".."), _file("data/esc/evil.txt")],
    "symlink-to-dot": OK + [_link("data/train/self", ".")],
    "hardlink-absolute": OK + [_link("data/train/hl", "/etc/passwd", hard=True)],
    "hardlink-escaping": OK + [_link("data/train/hl", "../../outside", hard=True)],
    "char-device": OK + [_special("data/train/null", tarfile.CHRTYPE)],
    "block-device": OK + [_special("data/train/sda", tarfile.BLKTYPE)],
    "fifo": OK + [_special("data/train/fifo", tarfile.FIFOTYPE)],
    "setuid-file": OK + [_file("data/train/run", b"#!/bin/sh\n", mode=0o4777)],
    "control-chars": OK + [_file("data/train/a\nb\x1b[31m.txt")],
    "backslash": OK + [_file("data\\..\\..\\evil.txt")],
    "not-gzip": None,
    "truncated": "truncated",
}


def _outside_snapshot(root: Path) -> set[str]:
    inside = ("home", "remote")
    return {rel for p in root.rglob("*") if (rel := str(p.relative_to(root))).split("/")[0] not in inside}


@pytest.mark.parametrize("case", list(TARBALLS))
def test_hostile_old_format_tarballs(case, file_remote, tmp_path, user, evil_paths):
    HOSTILE_INPUTS.append(f"tarball:{case}")
    remote_root = Path(file_remote.url[len("file://"):])
    remote_root.mkdir(parents=True)
    spec = TARBALLS[case]
    if spec is None:
        raw = b"this is not a tarball at all" * 10
    elif spec == "truncated":
        raw = _tar(OK + [_file("data/train/big.bin", os.urandom(100_000))])[:5000]
    else:
        raw = _tar(spec)
    (remote_root / "old.tgz").write_bytes(raw)
    toml = file_remote.toml("home")
    before = _outside_snapshot(tmp_path)
    assert etc_cli("list", "-r", config=toml, user=user).stdout.split()[0] == "old"
    proc = etc_cli("pull", "old", config=toml, user=user)
    assert not os.path.lexists(EVIL)
    assert _outside_snapshot(tmp_path) - before <= {"etc-home.toml"}, "written outside the home"
    home = tmp_path / "home"
    if proc.returncode == 0:  # only archives whose content is safe may be accepted
        assert case in ("setuid-file",), proc.stdout
        for p in (home / "old").rglob("*"):
            st = os.lstat(p)
            assert stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)
            assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID), f"{p} kept a setuid bit"
    else:
        one_line_error(proc, "old")
        assert not (home / "old").exists(), "a refused archive left a dataset behind"
    for sub in ("tmp", "trash"):
        folder = home / ".etc" / sub
        assert not folder.is_dir() or list(folder.iterdir()) == []


def test_links_inside_an_old_tarball_become_plain_copies(file_remote, tmp_path, user):
    HOSTILE_INPUTS.append("tarball:inside-links")
    remote_root = Path(file_remote.url[len("file://"):])
    remote_root.mkdir(parents=True)
    members = OK + [_link("data/train/soft", "a.txt"), _link("data/train/hard", "data/train/a.txt", hard=True)]
    (remote_root / "links.tgz").write_bytes(_tar(members))
    proc = etc_cli("pull", "links", config=file_remote.toml("home"), user=user)
    assert proc.returncode == 0, proc.stderr
    train = tmp_path / "home" / "links" / "data" / "train"
    for name in ("soft", "hard"):
        assert not (train / name).is_symlink() and (train / name).read_bytes() == b"alpha"
    assert os.stat(train / "hard").st_ino != os.stat(train / "a.txt").st_ino


# ---------------------------------------------------------------- forged manifests

H = "a" * 64


def _doc(**over):
    doc = {"format": FORMAT, "name": "m", "version": 1, "objects": {H: 5},
           "files": [{"path": "data/t/a", "size": 5, "sha256": "b" * 64, "parts": [[H, 0, 5]]}]}
    doc.update(over)
    return doc


def _files(*paths):
    return [{"path": p, "size": 5, "sha256": "b" * 64, "parts": [[H, 0, 5]]} for p in paths]


def _nested(depth: int) -> bytes:
    return gzip.compress(b'{"format": "' + FORMAT.encode() + b'", "name": "m", "version": 1, "objects": {}, "files": '
                         + b"[" * depth + b"]" * depth + b"}")


MANIFESTS = {
    "dotdot": _doc(files=_files("../../outside")),
    "dotdot-inner": _doc(files=_files("data/t/../../../x")),
    "absolute": _doc(files=_files("/etc/cron.d/evil")),
    "backslash": _doc(files=_files("data\\..\\..\\x")),
    "nul": _doc(files=_files("data/t/a\x00b")),
    "newline": _doc(files=_files("data/t/a\nb")),
    "dir-dotdot": _doc(dirs=["data/t/../../../d"]),
    "dir-absolute": _doc(dirs=[EVIL_DIR]),
    "file-in-data": _doc(files=_files("data/x")),
    "duplicate": _doc(files=_files("data/t/a", "data/t/a")),
    "file-and-folder": _doc(files=_files("data/t/a", "data/t/a/b")),
    "dir-is-a-file": _doc(dirs=["data/t/a"]),
    "long-segment": _doc(files=_files("data/t/" + "n" * 300)),
    "other-name": _doc(name="other"),
    "bad-name": _doc(name="../m"),
    "other-version": _doc(version=7),
    "negative-size": _doc(files=[{"path": "data/t/a", "size": -5, "sha256": "b" * 64, "parts": []}]),
    "huge-offset": _doc(files=[{"path": "data/t/a", "size": 5, "sha256": "b" * 64, "parts": [[H, 2**62, 5]]}]),
    "bad-object-id": _doc(objects={"../../x": 5}),
    "unlisted-object": _doc(files=[{"path": "data/t/a", "size": 5, "sha256": "b" * 64, "parts": [["c" * 64, 0, 5]]}]),
    "bool-size": _doc(files=[{"path": "data/t/a", "size": True, "sha256": "b" * 64, "parts": [[H, 0, 1]]}]),
    "files-not-list": _doc(files={"a": 1}),
    "files-null": _doc(files=None),
    "part-not-triple": _doc(files=[{"path": "data/t/a", "size": 5, "sha256": "b" * 64, "parts": [[H, 0]]}]),
    "not-object": [1, 2, 3],
    "unknown-format": _doc(format="etcetera/2"),
    "not-json": b"{this is not json",
    "not-gzip": "raw:this is not gzip",
    "empty": "raw:",
    "deep-nesting": "nested",
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_forged_manifests_are_refused(case, file_remote, tmp_path, user, evil_paths):
    HOSTILE_INPUTS.append(f"manifest:{case}")
    remote_root = Path(file_remote.url[len("file://"):])
    folder = remote_root / "datasets" / "m"
    folder.mkdir(parents=True)
    spec = MANIFESTS[case]
    if spec == "nested":
        raw = _nested(100_000)
    elif isinstance(spec, str):
        raw = spec[4:].encode()
    elif isinstance(spec, bytes):
        raw = gzip.compress(spec)
    else:
        raw = gzip.compress(json.dumps(spec).encode())
    (folder / "0000000001.json.gz").write_bytes(raw)
    (remote_root / "objects").mkdir()
    (remote_root / "objects" / H).write_bytes(b"hello")
    toml = file_remote.toml("home")
    before = _outside_snapshot(tmp_path)
    commands = (["pull", "m"], ["info", "-r", "m"])
    for args, proc in zip(commands, etc_cli_each(*commands, config=toml, user=user)):
        line = one_line_error(proc, "m@1")
        assert proc.returncode == 1, line  # a refusal, not a crash (exit 2)
    assert _outside_snapshot(tmp_path) - before <= {"etc-home.toml"}
    assert not (tmp_path / "home" / "m").exists()
    assert not os.path.lexists(EVIL_DIR)


# ---------------------------------------------------------------- names

BAD_NAMES = ["..", ".", "../x", "x/../../y", "/abs", "a/b", "a\\b", "-rf", ".hidden", "a b", "a\tb", "a\x01b",
             "a\x1b[31m", "\u202eevil", "é", "x" * 129, "x" * 5000, "name@", "@1", "ds@0", "ds@-1", "ds@1@2",
             "ds@99999999999", "~", "~root", "$HOME", "a;rm -rf x", "\u00a0", "CON\x7f"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n)[:30])
def test_bad_dataset_names_are_refused(name, file_remote, tmp_path, user):
    HOSTILE_INPUTS.append(f"name:{name!r}")
    toml = file_remote.toml("home")
    src = tmp_path / "src"
    (src / "data" / "train").mkdir(parents=True)
    before = _outside_snapshot(tmp_path)
    # Every command refuses it in the API; the CLI path (argv to one line) is the same for all,
    # so three commands through the real program are enough.
    cfg = file_remote.config("home")
    for call in (lambda: etc.create(name, config=cfg), lambda: etc.register(src, name, config=cfg),
                 lambda: etc.push(name, config=cfg), lambda: etc.pull(name, config=cfg),
                 lambda: etc.purge(name, config=cfg), lambda: etc.info(name, config=cfg),
                 lambda: etc.versions(name, config=cfg), lambda: etc.dataset(name, auto_pull=True, config=cfg)):
        with pytest.raises(etc.InvalidNameError) as info:
            call()
        assert "\n" not in str(info.value) and len(str(info.value)) < 400
    commands = (["create", name], ["register", str(src), name], ["pull", name])
    for args, proc in zip(commands, etc_cli_each(*commands, config=toml, user=user)):
        if name.startswith("-"):  # argparse takes it for an option: a usage error (exit 2), nothing done
            assert proc.returncode == 2 and "Traceback" not in proc.stderr
            continue
        line = one_line_error(proc)
        assert "invalid" in line or "longer than" in line or "non-empty" in line, (args, line)
        assert len(line) < 400, "the error echoes an absurd name in full"
        assert "\x1b" not in line and "\x01" not in line, "control characters reach the terminal"
    assert _outside_snapshot(tmp_path) - before <= {"etc-home.toml"}
    home = tmp_path / "home"
    assert not home.exists() or [p.name for p in home.iterdir() if p.name != ".etc"] == []


@pytest.mark.parametrize("partition", ["..", "../x", "a/b", "/abs", ".", "a\x01", "x" * 200, "-p"])
def test_bad_partition_names_are_refused(partition, file_remote, tmp_path, user):
    HOSTILE_INPUTS.append(f"partition:{partition!r}")
    toml = file_remote.toml("home")
    for args in (["create", "ok", "-p", partition], ["pull", "ok", "-p", partition]):
        proc = etc_cli(*args, config=toml, user=user)
        if partition == "-p":  # argparse sees an option: its own usage error, still no dataset
            assert proc.returncode == 2
            continue
        line = one_line_error(proc)
        assert "invalid partition name" in line or "longer than" in line, line
    home = tmp_path / "home"
    assert not (home / "ok").exists()


def test_hostile_names_on_the_remote_are_ignored(file_remote, tmp_path, user):
    """Keys a hostile remote may hold: listing shows only valid names and nothing is followed."""
    HOSTILE_INPUTS.append("remote-listing")
    root = Path(file_remote.url[len("file://"):])
    for key in ("datasets/.../0000000001.json.gz", "datasets/-x/0000000001.json.gz", "datasets/a b/0000000001.json.gz",
                "datasets/ok/notanumber.json.gz", "datasets/ok/sub/0000000001.json.gz", ".hidden.tgz", "-rf.tgz"):
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(b"junk")
    src = tmp_path / "src" / "real"
    (src / "data" / "train").mkdir(parents=True)
    (src / "data" / "train" / "a.txt").write_bytes(b"alpha")
    cfg = file_remote.config("home")
    etc.register(src, config=cfg)
    assert etc.push("real", config=cfg) == "real@1"
    proc = etc_cli("list", "-r", config=file_remote.toml("home"), user=user)
    assert proc.returncode == 0 and proc.stdout == "real\t@1\n", proc.stdout + proc.stderr  # only the valid one


# ---------------------------------------------------------------- config files

CONFIGS = {
    "not-toml": ("url = = nope\n", ["not valid TOML"]),
    "binary": (b"\xff\xfe\x00garbage", ["cannot read config file"]),
    "unknown-key": ('url = "file:///x"\ncolour = "blue"\n', ["unknown key 'colour'"]),
    "unknown-table": ('[s3]\nbucket = "x"\n', ["unknown key 's3'"]),
    "typo-of-secret": ('aws_secret_key = "x"\n', ["unknown key 'aws_secret_key'"]),
    "url-int": ("url = 5\n", ["'url'", "str"]),
    "home-list": ("home = [1, 2]\n", ["'home'", "str"]),
    "public-string": ('public = "yes"\n', ["'public'", "true or false"]),
    "workers-string": ('workers = "4"\n', ["'workers'", "int"]),
    "workers-bool": ("workers = true\n", ["'workers'", "int"]),
    "workers-zero": ("workers = 0\n", ["'workers'", "between 1 and 256"]),
    "workers-huge": ("workers = 100000\n", ["'workers'", "between 1 and 256"]),
    "endpoint-float": ("endpoint_url = 1.5\n", ["'endpoint_url'", "str"]),
    "region-table": ("region_name = {a = 1}\n", ["'region_name'", "str"]),
    "key-int": ("aws_access_key_id = 12345678\n", ["'aws_access_key_id'", "str"]),
    "secret-int": ("aws_secret_access_key = 987654321987\n", ["'aws_secret_access_key'", "str"]),
    "gcs-int": ("google_application_credentials = 7\n", ["'google_application_credentials'"]),
    "url-no-scheme": ('url = "bucket-name"\n', ["'url'", "s3://"]),
    "url-unknown-scheme": ('url = "ftp://x"\n', ["unsupported remote"]),
    "date": ("url = 1979-05-27\n", ["'url'", "str"]),
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_bad_config_file_is_one_line_naming_file_key_and_type(case, tmp_path, user):
    HOSTILE_INPUTS.append(f"config:{case}")
    text, needles = CONFIGS[case]
    path = user / ".etc.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    proc = etc_cli("list", "-r", config=path, user=user)
    line = one_line_error(proc, *needles)
    if case not in ("url-unknown-scheme",):
        assert str(path) in line, line
    assert "987654321987" not in line and "12345678" not in line  # never echo a (secret) value
