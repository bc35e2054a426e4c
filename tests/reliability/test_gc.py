"""`etc gc` running while a push is in progress elsewhere (file://)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import etcetera as etc
from etcetera import api
from etcetera.remote import Remote

from .reltools import check_remote, crash, object_keys, tree, write_dataset


def _gc_between_upload_and_publish(monkeypatch, config: etc.Config) -> list:
    """Run a real `etc gc` (default grace) at the worst moment of a push: objects uploaded or
    found present, manifest not yet created."""
    reports = []
    real_publish = Remote.publish

    def publish(self, manifest, *args):
        reports.append(api.gc(config=config))
        return real_publish(self, manifest, *args)

    monkeypatch.setattr(Remote, "publish", publish)
    return reports


def test_gc_during_a_push_keeps_the_objects_it_just_uploaded(file_remote, tmp_path, monkeypatch):
    a = file_remote.config("a")
    src = write_dataset(tmp_path / "src" / "g1", seed=71, small=10)
    etc.register(src, config=a)
    reports = _gc_between_upload_and_publish(monkeypatch, a)
    assert etc.push("g1", config=a) == "g1@1"
    assert reports[0].deleted == 0 and reports[0].kept_recent == len(object_keys(a))
    assert sorted(check_remote(a)) == [1]
    assert tree(etc.pull("g1", config=file_remote.config("b")).path) == tree(src)


def _old_orphans(file_remote, tmp_path: Path, user, name: str, seed: int) -> Path:
    """A push of `name` killed days ago, just before publishing: every object uploaded, no version."""
    src = write_dataset(tmp_path / "src" / name, seed=seed, small=10)
    etc.register(src, config=file_remote.config("a"))
    crash("publish", "push", name, config=file_remote.toml("a"), user=user)
    old = time.time() - 3 * 24 * 3600
    for p in (Path(file_remote.url[7:]) / "objects").iterdir():
        os.utime(p, (old, old))
    return src


def test_gc_during_a_push_that_reuses_an_old_orphan(file_remote, tmp_path, user, monkeypatch):
    """A new push of the same content finds the old orphans present and skips uploading them; a gc
    (default 24 h grace) runs before the new manifest exists.  The push renewed the orphans' age
    first, so the gc keeps them and the version is complete."""
    a = file_remote.config("a")
    src = _old_orphans(file_remote, tmp_path, user, "g2", seed=72)
    reports = _gc_between_upload_and_publish(monkeypatch, a)
    assert etc.push("g2", config=a) == "g2@1"
    assert reports[0].deleted == 0 and reports[0].kept_recent == len(object_keys(a)) > 0
    assert sorted(check_remote(a)) == [1]
    assert tree(etc.pull("g2", config=file_remote.config("b")).path) == tree(src)


def test_a_gc_that_judged_objects_orphans_keeps_them_once_a_push_reused_them(file_remote, tmp_path, user,
                                                                             monkeypatch):
    """The gc lists the objects and reads the manifests first (the old objects are orphans then);
    a push of the same content reuses them and publishes; only then does the gc delete.  It looks
    at each object again before deleting it, sees the age the push renewed, and keeps it."""
    import etcetera.gc as gc_module

    a = file_remote.config("a")
    src = _old_orphans(file_remote, tmp_path, user, "g3", seed=73)
    pushed: list[str] = []

    class Clock:  # gc reads the clock once, after reading the manifests: the push happens there
        @staticmethod
        def time() -> float:
            if not pushed:
                pushed.append(etc.push("g3", config=a))
            return time.time()

    monkeypatch.setattr(gc_module, "time", Clock)
    report = api.gc(config=a)
    assert pushed == ["g3@1"]
    assert report.deleted == 0 and report.kept_recent == len(object_keys(a)) > 0
    assert sorted(check_remote(a)) == [1]
    assert tree(etc.pull("g3", config=file_remote.config("b")).path) == tree(src)
