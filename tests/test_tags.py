"""Tags (`etc tag`, NAME@TAG, NAME@latest) on every backend, and the `etc tag` / `etc completion`
commands end to end."""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

import etcetera as etc
from etcetera import inspection
from etcetera.errors import ConflictError, DatasetError, InvalidNameError, NotFoundError
from etcetera.names import Ref, parse_ref_or_tag
from etcetera.remote import Remote
from etcetera.storage import ObjectInfo, Source, Storage, open_storage
from etcetera.tags import set_tag, tags_prefix
from test_cli import assert_one_line_error, run as cli_run

ETC = str(Path(sys.executable).parent / "etc")


def _versions(remote, make_dataset, n: int, name: str = "tg"):
    """Push `n` versions of `name` (file v.txt holds the version number); return the config."""
    a = remote.config("a")
    etc.register(make_dataset(name, {"train/v.txt": b"1"}), config=a)
    assert etc.push(name, config=a) == f"{name}@1"
    for v in range(2, n + 1):
        (etc.dataset(name, config=a)["train"] / "v.txt").write_bytes(str(v).encode())
        assert etc.push(name, config=a) == f"{name}@{v}"
    return a


def _tag_keys(config, name: str = "tg") -> list[str]:
    storage = open_storage(config)
    try:
        return sorted(i.key for i in storage.list(tags_prefix(name)))
    finally:
        storage.close()


# ---------------------------------------------------------------- parsing


def test_parse_ref_or_tag():
    assert parse_ref_or_tag("x") == Ref("x")
    assert parse_ref_or_tag("x@3") == Ref("x", 3)
    assert parse_ref_or_tag("x@stable") == Ref("x", tag="stable")
    assert parse_ref_or_tag("x@v1.2") == Ref("x", tag="v1.2")
    assert parse_ref_or_tag("x@latest") == Ref("x", tag="latest")
    assert str(parse_ref_or_tag("x@stable")) == "x@stable"
    assert etc.parse_ref("x@3") == ("x", 3)  # unchanged for its callers
    for bad in ("x@", "x@-a", "x@a/b", "x@0", "x@1234567890", "x@²", "@3", "x@a@b"):
        with pytest.raises(InvalidNameError):
            parse_ref_or_tag(bad)
    for bad in ("12", "0012", "latest", "-x", "a b", ""):
        with pytest.raises(InvalidNameError):
            etc.check_tag(bad)
    assert etc.check_tag("v12") == "v12"


# ---------------------------------------------------------------- the remote


def test_tag_move_delete_and_resolve_everywhere(remote, make_dataset):
    a = _versions(remote, make_dataset, 2)
    change = etc.tag("tg@1", "stable", config=a)
    assert (change.name, change.tag, change.version, change.previous, change.changed) == ("tg", "stable", 1, None, True)
    assert etc.tags("tg", config=a) == {"stable": 1}
    assert etc.versions("tg", config=a) == [2, 1]  # tag events are no versions
    assert etc.api.list_remote(a) == {"tg": 2}

    b = remote.config("b")
    ds = etc.pull("tg@stable", config=b)
    assert (ds.version, (ds["train"] / "v.txt").read_bytes()) == (1, b"1")
    assert etc.dataset("tg@stable", config=b).version == 1
    assert etc.info("tg@stable", remote=True, config=b)["version"] == 1
    assert etc.info("tg@stable", config=b)["version"] == 1
    d = inspection.diff("tg@stable", "tg@latest", config=b)
    assert (d.old_version, d.new_version, [c.path for c in d.changed]) == (1, 2, ["data/train/v.txt"])
    assert inspection.verify("tg@stable", remote=True, config=b).ok
    assert inspection.verify("tg@stable", config=b).ok

    assert etc.tag("tg@1", "stable", config=a).changed is False  # already there: nothing written
    moved = etc.tag("tg@latest", "stable", config=a)
    assert (moved.version, moved.previous, moved.changed) == (2, 1, True)
    with pytest.raises(DatasetError, match="etc pull tg@2"):
        etc.dataset("tg@stable", config=b)  # the local copy is another version: said, not pulled
    assert etc.dataset("tg@stable", auto_pull=True, config=b).version == 2
    assert etc.tag("tg@stable", "prod", config=a).version == 2  # a tag names a version for another tag

    gone = etc.tag("tg", "stable", delete=True, config=a)
    assert (gone.version, gone.previous) == (None, 2)
    assert etc.tags("tg", config=a) == {"prod": 2}
    with pytest.raises(NotFoundError, match="tg@stable does not exist"):
        etc.pull("tg@stable", config=b)
    again = etc.tag("tg@1", "stable", config=a)  # a deleted tag can be set again
    assert (again.version, again.previous) == (1, None)
    assert etc.pull("tg@stable", config=b).version == 1
    assert etc.versions("tg", config=a) == [2, 1]


def test_latest_means_the_newest_version(remote, make_dataset):
    a = _versions(remote, make_dataset, 1)
    b = remote.config("b")
    assert etc.dataset("tg@latest", auto_pull=True, config=b).version == 1
    (etc.dataset("tg", config=a)["train"] / "v.txt").write_bytes(b"2")
    etc.push("tg", config=a)
    # A local copy exists, but @latest is the remote's newest: auto_pull brings it.
    assert etc.dataset("tg@latest", auto_pull=True, config=b).version == 2
    assert etc.info("tg@latest", remote=True, config=b)["version"] == 2
    with pytest.raises(NotFoundError, match="no versions"):
        etc.pull("nothing@latest", config=b)


def test_bad_input_is_one_line_and_changes_nothing(remote, make_dataset):
    a = _versions(remote, make_dataset, 1)
    etc.tag("tg@1", "stable", config=a)
    before = _tag_keys(a)
    cases = [
        (("tg@1", "12"), {}, InvalidNameError, "all digits"),
        (("tg@1", "latest"), {}, InvalidNameError, "reserved"),
        (("tg@1", "a/b"), {}, InvalidNameError, "invalid tag name"),
        (("tg@9", "next"), {}, NotFoundError, "tg@9 does not exist"),
        (("tg@nope", "next"), {}, NotFoundError, "tg@nope does not exist"),
        (("tg", "next"), {}, etc.EtcError, "name the version"),
        (("other@1", "next"), {}, NotFoundError, "other@1 does not exist"),
        (("tg", "nope"), {"delete": True}, NotFoundError, "tg@nope does not exist"),
        (("tg@1", "stable"), {"delete": True}, etc.EtcError, "deleted by name"),
    ]
    for args, kwargs, error, needle in cases:
        with pytest.raises(error, match=needle) as info:
            etc.tag(*args, config=a, **kwargs)
        assert "\n" not in str(info.value)
    assert _tag_keys(a) == before
    assert etc.tags("tg", config=a) == {"stable": 1}


class Gate(Storage):
    """The real storage, except that creating a tag event waits until `parties` threads are
    about to: so each has read the tag's newest event before any of them writes."""

    def __init__(self, base: Storage, parties: int) -> None:
        super().__init__(base.url, base.config)
        self.base, self.barrier = base, threading.Barrier(parties, timeout=30)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        if "/tags/" in key:
            self.barrier.wait()
        return self.base.put_if_absent(key, data)

    def put(self, key: str, source: Source) -> None:
        self.base.put(key, source)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        return self.base.read(key, start, length)

    def exists(self, key: str) -> bool:
        return self.base.exists(key)

    def touch(self, key: str) -> bool:
        return self.base.touch(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.base.list(prefix)

    def delete(self, key: str) -> None:
        self.base.delete(key)


def test_two_concurrent_retags_one_wins_the_other_conflicts(remote, make_dataset):
    a = _versions(remote, make_dataset, 3)
    etc.tag("tg@1", "stable", config=a)
    base = open_storage(a)
    try:
        gated = Remote(Gate(base, 2))
        results: dict[int, object] = {}

        def retag(version: int) -> None:
            try:
                results[version] = set_tag(gated, Ref("tg", version), "stable")
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                results[version] = exc

        threads = [threading.Thread(target=retag, args=(v,)) for v in (2, 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        conflicts = [v for v, r in results.items() if isinstance(r, ConflictError)]
        winners = [v for v, r in results.items() if not isinstance(r, Exception)]
        assert len(conflicts) == 1 and len(winners) == 1, results
        message = str(results[conflicts[0]])
        assert "moved by someone else meanwhile" in message and "\n" not in message
        assert etc.tags("tg", config=a) == {"stable": winners[0]}
        assert len(_tag_keys(a)) == 2  # the first tagging and the winner's: the loser wrote nothing
        # Nothing lost: the loser tags again, on top of the winner's event.
        retry = etc.tag(f"tg@{conflicts[0]}", "stable", config=a)
        assert (retry.version, retry.previous) == (conflicts[0], winners[0])
        assert len(_tag_keys(a)) == 3
    finally:
        base.close()


def test_reading_without_pulling_by_tag(remote, make_dataset):
    pytest.importorskip("fsspec")
    from etcetera.fs import EtcFileSystem

    a = _versions(remote, make_dataset, 2)
    etc.tag("tg@1", "stable", config=a)
    with etc.open("tg@stable", "data/train/v.txt", config=a) as f:
        assert f.read() == b"1"
    with etc.open("tg@latest", "data/train/v.txt", config=a) as f:
        assert f.read() == b"2"
    fs = EtcFileSystem(config=a)
    assert fs.cat("tg@stable/data/train/v.txt") == b"1"
    etc.tag("tg@2", "stable", config=a)
    assert fs.cat("tg@stable/data/train/v.txt") == b"1"  # pinned, like NAME alone, until asked
    fs.invalidate_cache("tg")
    assert fs.cat("tg@stable/data/train/v.txt") == b"2"
    with pytest.raises(FileNotFoundError, match="tg@nope does not exist"):
        fs.cat("tg@nope/data/train/v.txt")


def test_gc_and_listings_ignore_tags(remote, make_dataset):
    a = _versions(remote, make_dataset, 2)
    etc.tag("tg@1", "old", config=a)
    etc.tag("tg@2", "new", config=a)
    report = etc.api.gc(config=a, grace_hours=0)
    assert report.deleted == 0
    assert etc.tags("tg", config=a) == {"new": 2, "old": 1}
    assert etc.pull("tg@old", config=remote.config("b")).version == 1
    storage = open_storage(a)
    try:
        r = Remote(storage)
        assert r.versions("tg") == [2, 1] and r.names() == {"tg": 2}
    finally:
        storage.close()


# ---------------------------------------------------------------- the command line


def run(*args: str, home: Path, ok: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real `etc` command, run from `home` (see test_cli.run)."""
    return cli_run(*args, cwd=home, home=home, ok=ok, env=env)


one_line_error = assert_one_line_error


def test_cli_tag_versions_and_pull_by_tag(tmp_path: Path):
    user = tmp_path / "user"
    src = tmp_path / "birds" / "data" / "train"
    src.mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (user / ".etc.toml").write_text(f'url = "file://{tmp_path / "remote"}"\n')
    run("-q", "register", str(tmp_path / "birds"), home=user)
    run("-q", "push", "birds", home=user)
    (user / ".etc" / "birds" / "data" / "train" / "b.txt").write_text("b")
    run("-q", "push", "birds", home=user)

    assert run("tag", "birds@1", "stable", home=user).stdout.startswith("birds@stable is now birds@1")
    assert "(was @1)" in run("tag", "birds@latest", "stable", home=user).stdout
    run("tag", "birds@1", "old", home=user)
    assert run("versions", "birds", home=user).stdout == "birds@2\tstable\nbirds@1\told\n"
    import json

    doc = json.loads(run("versions", "birds", "--json", home=user).stdout)
    assert doc["tags"] == {"old": 1, "stable": 2} and doc["versions"] == [2, 1]
    doc = json.loads(run("tag", "--json", "birds@old", "prod", home=user).stdout)
    assert doc == {"name": "birds", "tag": "prod", "version": 1, "previous": None, "changed": True,
                   "remote": f"file://{tmp_path / 'remote'}"}
    assert "pulled birds@1" in run("pull", "birds@old", "-f", home=user).stdout
    assert "birds@2" in run("info", "birds@stable", "-r", home=user).stdout

    before = sorted(p.name for p in (tmp_path / "remote" / "datasets" / "birds" / "tags").rglob("*"))
    one_line_error(run("tag", "birds@1", "42", home=user, ok=False), "all digits")
    one_line_error(run("tag", "birds@1", "latest", home=user, ok=False), "reserved")
    one_line_error(run("tag", "birds@7", "x", home=user, ok=False), "birds@7 does not exist")
    one_line_error(run("tag", "-d", "birds", "nope", home=user, ok=False), "birds@nope does not exist")
    one_line_error(run("pull", "birds@nope", home=user, ok=False), "birds@nope does not exist", "etc versions birds")
    assert sorted(p.name for p in (tmp_path / "remote" / "datasets" / "birds" / "tags").rglob("*")) == before

    assert "deleted tag old" in run("tag", "--delete", "birds", "old", home=user).stdout
    assert run("versions", "birds", home=user).stdout == "birds@2\tstable\nbirds@1\tprod\n"


def _complete(line: str, home: Path) -> list[str]:
    """What bash completes for the words of `line` (the last one being completed), with the
    script `etc completion bash` prints loaded."""
    words = line.split(" ")
    script = (f'eval "$({ETC} completion bash)"; complete -p etc >&2; '
              f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
              'COMP_LINE="$*"; _etc_complete; printf "%s\\n" "${COMPREPLY[@]}"')
    env = {**{k: v for k, v in os.environ.items() if k != "ETC_CONFIG"}, "HOME": str(home),
           "PATH": f"{Path(ETC).parent}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", "--norc", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "_etc_complete" in proc.stderr and proc.stderr.rstrip().endswith(" etc"), proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


def test_bash_completion_of_commands_options_and_dataset_names(tmp_path: Path):
    user = tmp_path / "user"
    for name in ("birds", "bees", "cats"):
        run("-q", "create", name, home=user)
    assert run("list", "--names", home=user).stdout == "bees\nbirds\ncats\n"
    assert _complete("etc p", user) == ["push", "pull", "purge"]
    assert _complete("etc ta", user) == ["tag"]
    assert _complete("etc comp", user) == ["completion"]
    assert _complete("etc pull b", user) == ["bees", "birds"]
    assert _complete("etc -q info c", user) == ["cats"]
    assert _complete("etc --config x.toml pull c", user) == ["cats"]
    assert _complete("etc tag --d", user) == ["--delete"]
    assert "--partition" in _complete("etc pull --", user)
    assert _complete("etc --ver", user) == ["--version", "--verbose"]
    assert _complete("etc completion z", user) == ["zsh"]
    zsh = run("completion", "zsh", home=user).stdout
    assert "bashcompinit" in zsh and "complete -o default -F _etc_complete etc" in zsh


def _zsh_completes(typed: str, home: Path) -> str:
    """The command line an interactive zsh shows after `typed` and a Tab, with the script
    `etc completion zsh` prints loaded after compinit (as in ~/.zshrc)."""
    import pty

    env = {**{k: v for k, v in os.environ.items() if k != "ETC_CONFIG"}, "HOME": str(home),
           "PATH": f"{Path(ETC).parent}:{os.environ.get('PATH', '')}"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: an interactive zsh without any rc file
        os.execvpe("zsh", ["zsh", "-f", "-i"], env)

    def read(seconds: float) -> str:
        out, end = b"", time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    break
        return re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]|[\x00-\x08\r]", "", out.decode(errors="replace"))

    try:
        os.write(fd, b'PS1="> "; autoload -U compinit && compinit -u -D; eval "$(etc completion zsh)"\n')
        read(3)
        os.write(fd, typed.encode() + b"\t")
        return read(3).strip()
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completion_in_a_real_zsh(tmp_path: Path):
    user = tmp_path / "user"
    run("-q", "create", "birds", home=user)
    assert _zsh_completes("etc pus", user).endswith("etc push")
    assert _zsh_completes("etc pull bi", user).endswith("etc pull birds")
    assert _zsh_completes("etc tag --de", user).endswith("etc tag --delete")


def test_a_damaged_tag_event_is_a_one_line_error(file_remote, make_dataset):
    a = _versions(file_remote, make_dataset, 1)
    etc.tag("tg@1", "stable", config=a)
    event = Path(a.url[len("file://"):]) / "datasets" / "tg" / "tags" / "stable" / "0000000001.json"
    event.write_text("{not json")
    with pytest.raises(etc.FormatError, match="is not valid: delete it") as info:
        etc.pull("tg@stable", config=file_remote.config("b"))
    assert "\n" not in str(info.value)
