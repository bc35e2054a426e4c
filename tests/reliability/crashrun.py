"""Run the real `etc` command and SIGKILL it at one exact moment (a test-only harness).

    python crashrun.py HOOK -- push NAME       # argv after `--` goes to etcetera.cli.main

The product code is unchanged: this script wraps a few internal calls of the real program
and, at the chosen point, sends SIGKILL to its own process, exactly what `kill -9` does.
Hooks (N counts from 1):

    put:N          after the N-th object upload has completed
    put-mid:N      in the middle of writing the N-th object (file://: half its bytes written)
    publish        just before the manifest is created
    published      just after the manifest was created, before local state is saved
    read:N         pull: once the N-th ranged read of an object has delivered its first block
    install        pull: after the old copy moved aside, before the new one is renamed in
    installed      pull: after the new copy is in place, before its state is saved
    never          run normally (a control)
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from etcetera import repository
from etcetera.cli import main
from etcetera.home import Home

_lock = threading.Lock()
_count = {"put": 0, "read": 0}


def die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _bump(kind: str) -> int:
    with _lock:
        _count[kind] += 1
        return _count[kind]


def install_hook(hook: str) -> None:
    kind, _, arg = hook.partition(":")
    n = int(arg) if arg else 0
    real_remote = repository.open_remote

    def remote(config):
        r = real_remote(config)
        storage = r.storage
        real_put, real_read, real_pia = storage.put, storage.read, storage.put_if_absent

        def put(key, source):
            if kind == "put-mid" and key.startswith("objects/") and _bump("put") == n:
                _half_write_then_die(storage, key, source)
            real_put(key, source)
            if kind == "put" and key.startswith("objects/") and _bump("put") == n:
                die()

        def read(key, start=0, length=None):
            last = kind == "read" and key.startswith("objects/") and _bump("read") == n
            try:
                for block in real_read(key, start, length):
                    yield block
                    if last:  # the block was written to the staging folder: die mid-download
                        die()
            finally:
                if last:  # a one-block read: die as soon as the reader lets go of it
                    die()

        def put_if_absent(key, data):
            if kind == "publish":
                die()
            created = real_pia(key, data)
            if kind == "published" and created:
                die()
            return created

        storage.put, storage.read, storage.put_if_absent = put, read, put_if_absent
        return r

    repository.open_remote = remote
    if kind in ("install", "installed"):
        real_install = Home.install

        def install(self, name, staged):
            if kind == "installed":
                dest = real_install(self, name, staged)
                die()
                return dest
            real_rename = os.rename
            calls = [0]

            def rename(src, dst):
                real_rename(src, dst)
                calls[0] += 1
                if calls[0] == 1 and self.path(name).exists() is False:
                    die()

            os.rename = rename
            try:
                return real_install(self, name, staged)
            finally:
                os.rename = real_rename

        Home.install = install


def _half_write_then_die(storage, key, source) -> None:
    """Start the object's write the way the backend does, stop half-way, and die."""
    if storage.scheme == "file":
        path = storage._path(key)
        tmp = storage._tmp(path)
        with open(tmp, "wb") as out, source.reader(0, max(1, source.size // 2)) as reader:
            while block := reader.read(1 << 20):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    die()


if __name__ == "__main__":
    hook = sys.argv[1]
    assert sys.argv[2] == "--"
    if hook != "never":
        install_hook(hook)
    raise SystemExit(main(sys.argv[3:]))
