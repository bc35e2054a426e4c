"""kill -9 of `etc push` and `etc pull` at exact moments (crashrun.py), on a file:// remote.

After every crash: the remote shows only complete versions, the previous version pulls
byte-identical, the next run completes, and `etc gc` removes what the crash left behind.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import etcetera as etc

from .reltools import MiB, check_remote, crash, etc_cli, object_keys, one_line_error, referenced_keys, tree, write_dataset

LARGE = (9 * MiB, 17 * MiB)  # one single-object file, one file of two chunks
PUSH_POINTS = ["put:1", "put:3", "put-mid:1", "put-mid:4", "publish", "published"]
PULL_POINTS = ["read:1", "read:3", "install", "installed"]


def _temporaries(remote_root: Path) -> list[Path]:
    return [p for p in remote_root.rglob("*") if p.name.startswith(".tmp")]


@pytest.mark.parametrize("point", PUSH_POINTS)
def test_push_killed_leaves_no_partial_version_and_gc_cleans_up(point, file_remote, user, tmp_path):
    cfg_a, toml_a = file_remote.config("a", workers=2), file_remote.toml("a", workers=2)
    src = write_dataset(tmp_path / "src" / "ds", seed=1, small=12)
    v1 = tree(src)
    assert etc_cli("register", str(src), config=toml_a, user=user).returncode == 0
    assert etc_cli("push", "ds", config=toml_a, user=user).returncode == 0

    local = cfg_a.home_path / "ds"
    shutil.rmtree(local / "data")
    write_dataset(local, seed=2, large=LARGE)
    v2 = tree(local)
    crash(point, "push", "ds", config=toml_a, user=user)

    published = check_remote(cfg_a)  # every visible version is complete
    assert sorted(published) == ([1, 2] if point == "published" else [1])
    b = file_remote.config("b")
    assert tree(etc.pull("ds@1", config=b).path) == v1  # the previous version is intact
    if point == "published":  # the version is complete, and the next push knows it is this copy's
        assert tree(etc.pull("ds@2", config=b).path) == v2

    # Change one file so that some of what the crashed push uploaded becomes an orphan.
    (local / "data" / "train" / "f0001.bin").write_bytes(b"changed after the crash")
    final = tree(local)
    done = etc_cli("push", "ds", config=toml_a, user=user)
    assert done.returncode == 0, done.stderr
    latest = 3 if point == "published" else 2
    assert f"pushed ds@{latest}" in done.stdout
    check_remote(cfg_a)
    referenced = referenced_keys(cfg_a)

    # gc: the default grace period protects young orphans (pushes in progress elsewhere) ...
    kept = etc_cli("gc", config=toml_a, user=user)
    assert kept.returncode == 0 and "deleted 0 orphans" in kept.stdout, kept.stdout + kept.stderr
    # ... and --grace 0 removes every orphan and leftover, nothing else.
    orphans_before = object_keys(cfg_a) - referenced
    partial = _temporaries(Path(file_remote.url[7:]))  # writes killed before their rename
    if point.startswith("put-mid"):
        assert partial, "the crash left no partial write?"
    gone = etc_cli("gc", "--grace", "0", config=toml_a, user=user)
    assert gone.returncode == 0, gone.stderr
    n = len(orphans_before) + len(partial)
    assert f"deleted {n} {'orphan' if n == 1 else 'orphans'} (" in gone.stdout
    if point == "publish":  # everything was uploaded, then one pack's content changed
        assert orphans_before, "the crash left nothing to collect?"
    assert object_keys(cfg_a) == referenced
    assert _temporaries(Path(file_remote.url[7:])) == []
    c = file_remote.config("c")
    assert tree(etc.pull(f"ds@{latest}", config=c).path) == final
    assert tree(etc.pull("ds@1", config=file_remote.config("d")).path) == v1


# "install" moves an old copy aside: a fresh home has none, so that moment does not exist there.
PULL_CASES = [pytest.param(point, had_copy, id=f"{'over-old-copy' if had_copy else 'fresh-home'}-{point}")
              for had_copy in (True, False) for point in PULL_POINTS if had_copy or point != "install"]


@pytest.mark.parametrize("point, had_copy", PULL_CASES)
def test_pull_killed_leaves_old_copy_or_nothing(point, had_copy, file_remote, user, tmp_path):
    a = file_remote.config("a", workers=2)
    src = write_dataset(tmp_path / "src" / "pl", seed=3, small=12)
    etc.register(src, config=a)
    etc.push("pl", config=a)
    v1 = tree(src)
    shutil.rmtree(a.home_path / "pl" / "data")
    write_dataset(a.home_path / "pl", seed=4, small=20, large=LARGE)
    v2 = tree(a.home_path / "pl")
    assert etc.push("pl", config=a) == "pl@2"

    cfg_b, toml_b = file_remote.config("b", workers=2), file_remote.toml("b", workers=2)
    if had_copy:
        assert etc_cli("pull", "pl@1", config=toml_b, user=user).returncode == 0
    crash(point, "pull", "pl", config=toml_b, user=user)

    dest = cfg_b.home_path / "pl"
    now = tree(dest) if dest.exists() else None
    allowed = [v1 if had_copy else None] + ([None] if point == "install" else []) + ([v2] if point == "installed" else [])
    assert now in allowed, "a half dataset is visible in the home"
    listed = etc_cli("list", config=toml_b, user=user)
    assert listed.returncode == 0
    if point == "install":  # the old copy was moved aside: the next run puts it back, complete
        back = etc_cli("pull", "pl@1", config=toml_b, user=user)
        assert back.returncode == 0 and "already up to date" in back.stdout, back.stdout + back.stderr
        assert tree(dest) == v1

    done = etc_cli("pull", "pl", config=toml_b, user=user)
    assert done.returncode == 0, done.stderr
    assert tree(dest) == v2
    leftovers = [p for sub in ("tmp", "trash") if (cfg_b.home_path / ".etc" / sub).is_dir()
                 for p in (cfg_b.home_path / ".etc" / sub).iterdir()]
    assert leftovers == []
    assert "already up to date" in etc_cli("pull", "pl", config=toml_b, user=user).stdout


def test_crash_harness_control_run_completes(file_remote, user, tmp_path):
    """The harness itself does not break the program: with no kill point it pushes normally."""
    import subprocess
    import sys

    from .reltools import CRASHRUN, env_for

    toml = file_remote.toml("a")
    src = write_dataset(tmp_path / "src" / "ctl", seed=5, small=4)
    assert etc_cli("register", str(src), config=toml, user=user).returncode == 0
    proc = subprocess.run([sys.executable, CRASHRUN, "never", "--", "--config", str(toml), "push", "ctl"],
                          env=env_for(user), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "pushed ctl@1" in proc.stdout, proc.stderr
    assert os.path.isdir(file_remote.url[7:])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_push_and_pull_killed_at_random_moments(seed, file_remote, user, tmp_path):
    """An outside `kill -9` after a (seeded) random delay, wherever the program happens to be."""
    import random
    import signal
    import subprocess

    from .reltools import ETC, env_for
    from .stats import CRASH_POINTS

    rnd = random.Random(seed)
    cfg_a, toml_a = file_remote.config("a", workers=2), file_remote.toml("a", workers=2)
    src = write_dataset(tmp_path / "src" / "rk", seed=seed, small=300, small_size=16 * 1024, large=LARGE)
    assert etc_cli("register", str(src), config=toml_a, user=user).returncode == 0

    def killed(args, toml) -> bool:
        proc = subprocess.Popen([*ETC, "-q", "--config", str(toml), *args], env=env_for(user),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(rnd.uniform(0.08, 0.16))  # start-up is ~0.07 s; the transfer ~0.05-0.1 s
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        code = proc.wait(30)
        if code == -signal.SIGKILL:
            CRASH_POINTS.append(f"{args[0]}:random")
        return code == -signal.SIGKILL

    killed(["push", "rk"], toml_a)
    assert sorted(check_remote(cfg_a)) in ([], [1])
    assert etc_cli("push", "rk", config=toml_a, user=user).returncode == 0
    assert sorted(check_remote(cfg_a)) == [1]

    cfg_b, toml_b = file_remote.config("b", workers=2), file_remote.toml("b", workers=2)
    killed(["pull", "rk"], toml_b)
    dest = cfg_b.home_path / "rk"
    assert not dest.exists() or tree(dest) == tree(src), "a half dataset is visible"
    assert etc_cli("pull", "rk", config=toml_b, user=user).returncode == 0
    assert tree(dest) == tree(src)


def test_push_killed_after_publishing_is_up_to_date_next_time(file_remote, user, tmp_path):
    """Killed right after its manifest was created: the unchanged copy is up to date at @2.
    (An edited copy pushes @3 without a conflict: see the 'published' case above.)"""
    toml = file_remote.toml("a")
    src = write_dataset(tmp_path / "src" / "pe", seed=81, small=4)
    assert etc_cli("register", str(src), config=toml, user=user).returncode == 0
    assert etc_cli("push", "pe", config=toml, user=user).returncode == 0
    local = tmp_path / "a" / "pe"
    (local / "data" / "train" / "f0001.bin").write_bytes(b"second")
    crash("published", "push", "pe", config=toml, user=user)
    again = etc_cli("push", "pe", config=toml, user=user)
    assert again.returncode == 0 and "pe@2 is up to date" in again.stdout, again.stdout + again.stderr


def test_a_version_someone_else_published_is_not_adopted(file_remote, user, tmp_path):
    """Killed just before publishing @2; someone else then publishes @2: the next push must not
    take that version for its own (a conflict, as for any push based on an older version)."""
    toml_a = file_remote.toml("a")
    src = write_dataset(tmp_path / "src" / "na", seed=82, small=4)
    assert etc_cli("register", str(src), config=toml_a, user=user).returncode == 0
    assert etc_cli("push", "na", config=toml_a, user=user).returncode == 0
    (tmp_path / "a" / "na" / "data" / "train" / "f0001.bin").write_bytes(b"mine")
    crash("publish", "push", "na", config=toml_a, user=user)
    b = file_remote.config("b")
    etc.pull("na", config=b)
    (b.home_path / "na" / "data" / "train" / "f0001.bin").write_bytes(b"theirs")
    assert etc.push("na", config=b) == "na@2"
    proc = etc_cli("push", "na", config=toml_a, user=user)
    one_line_error(proc, "na@2", "based on @1")
