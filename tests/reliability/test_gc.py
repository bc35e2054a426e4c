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


def test_gc_during_a_push_that_reuses_an_old_orphan(file_remote, tmp_path, user, monkeypatch):
    """A push killed days ago left orphans; a new push of the same content finds them present and
    skips uploading them; a gc (default 24 h grace) runs before the new manifest exists and
    deletes them as old orphans.  The push re-creates them after publishing, so its version is
    complete (without that, it referenced missing objects)."""
    toml, a = file_remote.toml("a"), file_remote.config("a")
    src = write_dataset(tmp_path / "src" / "g2", seed=72, small=10)
    etc.register(src, config=a)
    crash("publish", "push", "g2", config=toml, user=user)  # all objects uploaded, no version
    old = time.time() - 3 * 24 * 3600
    for p in (Path(file_remote.url[7:]) / "objects").iterdir():
        os.utime(p, (old, old))
    reports = _gc_between_upload_and_publish(monkeypatch, a)
    assert etc.push("g2", config=a) == "g2@1"
    assert reports[0].deleted > 0  # the gc really deleted the reused objects under the push
    assert sorted(check_remote(a)) == [1]
    assert tree(etc.pull("g2", config=file_remote.config("b")).path) == tree(src)
