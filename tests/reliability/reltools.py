"""Helpers shared by the reliability tests: running `etc`, building datasets, checking remotes."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import etcetera as etc
from etcetera.remote import Remote, object_key
from etcetera.storage import open_storage

from .stats import CRASH_POINTS

HERE = Path(__file__).parent
CRASHRUN = str(HERE / "crashrun.py")
ETC = [sys.executable, "-m", "etcetera"]
KiB, MiB = 1 << 10, 1 << 20


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ETC_CONFIG", "AWS_PROFILE")}
    env.update(HOME=str(home), PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def etc_cli(*args: str, config: Path, user: Path, timeout: float = 120, env: dict | None = None,
            **kw) -> subprocess.CompletedProcess:
    """Run the real `etc` program with --config, as a user would."""
    return subprocess.run([*ETC, "--config", str(config), *args], env={**env_for(user), **(env or {})},
                          capture_output=True, text=True, timeout=timeout, **kw)


def etc_cli_each(*commands: list[str], config: Path, user: Path) -> list[subprocess.CompletedProcess]:
    """Run several independent `etc` commands at once (each its own process, as `etc_cli`); their
    results in the order given.  For checks that each command alone must pass: on 2 cores, the
    start-ups overlap instead of adding up."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda args: etc_cli(*args, config=config, user=user), commands))


def crash(hook: str, *args: str, config: Path, user: Path) -> subprocess.CompletedProcess:
    """Run `etc ARGS` and SIGKILL it at `hook` (see crashrun.py); assert it really died by SIGKILL."""
    proc = subprocess.run([sys.executable, CRASHRUN, hook, "--", "--config", str(config), *args],
                          env=env_for(user), capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, (hook, proc.returncode, proc.stderr)
    CRASH_POINTS.append(f"{args[0]}:{hook}")
    return proc


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The single `etc: error:` line of a failed run; fails the test otherwise."""
    assert proc.returncode not in (0, None), proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("etc: error: ") and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def tree(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file below root (what a round trip must preserve)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def write_dataset(base: Path, seed: int, small: int = 40, small_size: int = 64 * KiB,
                  large: tuple[int, ...] = ()) -> Path:
    """A dataset with `small` small files over train/test and one file per size in `large`."""
    rnd = random.Random(seed)
    for i in range(small):
        p = base / "data" / ("train" if i % 4 else "test") / f"f{i:04}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rnd.randbytes(small_size))
    for i, size in enumerate(large):
        p = base / "data" / "train" / f"large{i}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rnd.randbytes(size))
    (base / "meta.json").write_text(f'{{"seed": {seed}}}')
    return base


def check_remote(config: etc.Config) -> dict[int, dict]:
    """Every published version of every dataset is complete: all its objects exist with their
    recorded sizes.  Returns {version: manifest} for inspection."""
    r = Remote(open_storage(config))
    sizes = {info.key: info.size for info in r.storage.list("objects/")}
    seen = {}
    for name in r.names():
        for v in r.versions(name):
            m = r.manifest(name, v)
            for oid, size in m.objects.items():
                assert sizes.get(object_key(oid)) == size, f"{name}@{v} shows a missing/partial object {oid}"
            seen[v] = m
    return seen


def referenced_keys(config: etc.Config) -> set[str]:
    """Keys of every object some published version needs (data objects and metadata shards)."""
    r = Remote(open_storage(config))
    return {object_key(o) for name in r.names() for v in r.versions(name) for o in r.referenced(name, v)}


def object_keys(config: etc.Config) -> set[str]:
    return {i.key for i in open_storage(config).list("objects/")}


def all_remote_keys(config: etc.Config) -> set[str]:
    return {i.key for i in open_storage(config).list("")}
