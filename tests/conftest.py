"""Shared fixtures.  `remote` is parametrized over every backend, so the backend suite
(tests/test_backends.py) runs unchanged against file://, S3 (moto server), GCS (emulator) and Azure (Azurite)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest

from etcetera import Config

# Each entry names a fixture that yields a Remote; S3 and GCS add theirs in tests/servers.py.
BACKENDS = ["file", "s3", "gs", "az"]
from servers import gcs_endpoint, gs_remote, s3_endpoint, s3_remote  # noqa: E402,F401
from servers import az_endpoint, az_remote  # noqa: E402,F401


# The suite's servers are all on loopback: a proxy set for the machine (corporate CI) must not carry
# their traffic.  tests/test_proxy.py sets the variables it tests itself.
for _name in ("NO_PROXY", "no_proxy"):
    os.environ[_name] = ",".join(filter(None, [os.environ.get(_name), "127.0.0.1", "localhost"]))

_SCRATCH = pytest.StashKey[Path]()
_OLD_TMPDIR = pytest.StashKey["str | None"]()


@pytest.hookimpl(tryfirst=True)  # before pytest's tmpdir plugin reads --basetemp
def pytest_configure(config: pytest.Config) -> None:
    """The suite leaves nothing in /tmp.  Left alone, pytest keeps the tmp_path folders of the
    last three runs in $TMPDIR/pytest-of-USER (gigabytes here).  Instead, everything temporary
    (tmp_path, and whatever this process, the `etc` subprocesses or the servers put in $TMPDIR)
    goes to one private folder that the end of the run removes.  To keep the files for a
    post-mortem, pass --basetemp=DIR: that folder is yours and is kept."""
    if config.option.basetemp is not None:
        return
    scratch = Path(tempfile.mkdtemp(prefix="etcetera-tests-"))
    config.stash[_SCRATCH] = scratch
    config.option.basetemp = str(scratch / "basetemp")
    (scratch / "tmp").mkdir()
    config.stash[_OLD_TMPDIR] = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(scratch / "tmp")  # inherited by every subprocess and server
    tempfile.tempdir = str(scratch / "tmp")


def pytest_unconfigure(config: pytest.Config) -> None:
    scratch = config.stash.get(_SCRATCH, None)
    if scratch is not None:
        old = config.stash[_OLD_TMPDIR]
        if old is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old
        tempfile.tempdir = None
        shutil.rmtree(scratch, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    if exitstatus != 0 and _SCRATCH in config.stash:
        terminalreporter.write_line("the tests' temporary files are removed; rerun with --basetemp=DIR to keep them")


@dataclasses.dataclass
class Remote:
    """A fresh, empty remote for one test, plus the Config keys needed to reach it."""

    kind: str
    url: str
    options: dict[str, Any]
    tmp: Path

    def config(self, home: str = "home", **extra: Any) -> Config:
        """A Config on this remote with its own local home folder under the test's tmp dir."""
        return Config(self.url, home=str(self.tmp / home), **{**self.options, **extra})

    def toml(self, home: str = "home", **extra: Any) -> Path:
        """The same configuration written as a TOML file; returns its path."""
        data = {"url": self.url, "home": str(self.tmp / home), **self.options, **extra}
        lines = [f"{k} = {_toml_value(v)}" for k, v in data.items()]
        path = self.tmp / f"etc-{home}.toml"
        path.write_text("\n".join(lines) + "\n")
        return path


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def file_remote(tmp_path: Path) -> Remote:
    return Remote("file", f"file://{tmp_path / 'remote'}", {}, tmp_path)


@pytest.fixture(params=BACKENDS)
def remote(request: pytest.FixtureRequest) -> Remote:
    return request.getfixturevalue(f"{request.param}_remote")


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Write a dataset folder: make_dataset('name', {'train/a.txt': b'..'}, meta={...}, extra={'README': b''})."""

    def make(name: str = "sample", files: dict[str, bytes] | None = None, meta: Any = None,
             extra: dict[str, bytes] | None = None, root: Path | None = None) -> Path:
        base = (root or tmp_path / "src") / name
        files = files if files is not None else {"train/a.txt": b"alpha\n", "test/b.txt": b"beta\n"}
        for rel, data in files.items():
            p = base / "data" / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        for rel, data in (extra or {}).items():
            p = base / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        if meta is not None:
            import json

            (base / "meta.json").write_text(json.dumps(meta))
        (base / "data").mkdir(parents=True, exist_ok=True)
        return base

    return make


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the real ~/.etc or ~/.etc.toml."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("ETC_CONFIG", raising=False)
    (tmp_path / "user").mkdir()
    monkeypatch.delenv("AWS_PROFILE", raising=False)
