"""Extra disk a publish takes: the bytes under given folders, sampled while a command runs.

Publishing a folder through the plugins (`EtcPushOperator(source=...)`, Prefect
`push_dataset(source=...)`, the Dagster IO manager) must not need a second copy of the data
(issue 15: extra disk <= 10 % of the dataset).  The sampler walks the home and the command's
temporary folder every few milliseconds and keeps the largest total of allocated blocks; files
that share an inode with the source folder (hard links) are not extra and are not counted.  The
filesystem's used bytes (statvfs) are sampled too, as a cross-check that sees reflinks and
writes elsewhere, but other processes on the machine move that figure as well.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

OP = "publish: extra disk"  # the row's operation: seconds of the publish, extra bytes in `extra`
INTERVAL = 0.02


def allocated(folder: Path, skip: set[tuple[int, int]], seen: set[tuple[int, int]]) -> int:
    """Bytes allocated to the files under `folder` (each inode once, none of `skip`)."""
    total = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:  # created, or removed, while we look
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if entry.is_dir(follow_symlinks=False):
            total += allocated(Path(entry.path), skip, seen)
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in skip or ident in seen:
            continue
        seen.add(ident)
        total += st.st_blocks * 512
    return total


def inodes(folder: Path) -> set[tuple[int, int]]:
    out = set()
    for root, _, files in os.walk(folder):
        for f in files:
            st = os.stat(os.path.join(root, f), follow_symlinks=False)
            out.add((st.st_dev, st.st_ino))
    return out


def fs_used(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


class Sampler:
    """`with Sampler([home, tmp], exclude=src) as s: run()`; then s.peak, s.last, s.fs_peak (bytes)."""

    def __init__(self, folders: list[Path], exclude: Path) -> None:
        self.folders, self.skip = folders, inodes(exclude)
        self.base = sum(self._measure())
        self.fs_base = fs_used(exclude)
        self.fs_path = exclude
        self.peak = self.last = self.fs_peak = self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _measure(self) -> list[int]:
        seen: set[tuple[int, int]] = set()
        return [allocated(f, self.skip, seen) for f in self.folders]

    def sample(self) -> None:
        self.last = max(0, sum(self._measure()) - self.base)
        self.peak = max(self.peak, self.last)
        self.fs_peak = max(self.fs_peak, fs_used(self.fs_path) - self.fs_base)
        self.count += 1

    def _loop(self) -> None:
        while not self._stop.wait(INTERVAL):
            self.sample()

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()  # what is left once the command has finished
