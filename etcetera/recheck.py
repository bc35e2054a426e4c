"""The up-to-date check of a push: whether a dataset folder's files are exactly the ones the
state's records describe, by a merge of a path-ordered scan with the path-ordered record lines.

This module imports nothing from etcetera, so that it also runs as a script: a big check is split
between the pushing process and children `python -I -S recheck.py` (see `push._unchanged`), which
start in about 25 ms, where `import etcetera` alone costs about 60 ms.  The child reads a job
`{"path": folder, "groups": [[group, records file], ...]}` as JSON on stdin and writes the outcome
of `check_files` (null, or [files, bytes, empty folders]) as JSON on stdout.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from typing import Iterable, Iterator

Counted = tuple[int, int, list[str]]  # files, bytes, empty folders


def same_as_recorded(folder: str, rel: str, lines: Iterator[str], dirs: list[str]) -> tuple[int, int] | None:
    """Whether the files below `folder` are, in path order, the next stored record lines: same
    path, size, mtime, inode and mode (anything else, a link included, is a change: the full
    push that follows applies the dataset rules).  (files, bytes), or None at the first change."""
    files = nbytes = 0
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return (0, 0) if rel else None
    try:  # stat relative to the folder: one name resolved per file, not the whole path (see walk_files)
        with os.scandir(fd) as it:
            entries = sorted(e.name + "/" if e.is_dir(follow_symlinks=False) else e.name
                             for e in it if rel or e.name != "data")
        if not entries and rel:
            dirs.append(rel[:-1])
        for key in entries:
            if key[-1] == "/":
                below = same_as_recorded(f"{folder}/{key[:-1]}", rel + key, lines, dirs)
                if below is None:
                    return None
                files += below[0]
                nbytes += below[1]
                continue
            st = os.stat(key, dir_fd=fd, follow_symlinks=False)
            line = next(lines, "")
            if not (line.startswith(f"{rel}{key}\t{st.st_size}\t{st.st_mtime_ns}\t{st.st_ino}\t")
                    and line[-2] == ("1" if st.st_mode & 0o100 else "0") and stat.S_ISREG(st.st_mode)):
                return None
            files += 1
            nbytes += st.st_size
    finally:
        os.close(fd)
    return files, nbytes


def check_group(path: str, group: str, lines: Iterator[str], dirs: list[str]) -> tuple[int, int] | None:
    """(files, bytes) when the group (a partition `data/<p>`, or `.` for the files outside data/)
    of the dataset at `path` is exactly its record `lines`, none left over; else None."""
    counted = same_as_recorded(path if group == "." else f"{path}/{group}", "" if group == "." else f"{group}/",
                               lines, dirs)
    return None if counted is None or next(lines, None) is not None else counted


def check_groups(path: str, groups: Iterable[tuple[str, Iterator[str]]]) -> Counted | None:
    """`check_group` over (group, its record lines) pairs: their totals and empty folders, or None
    at the first change."""
    files = nbytes = 0
    dirs: list[str] = []
    for group, lines in groups:
        counted = check_group(path, group, lines, dirs)
        if counted is None:
            return None
        files += counted[0]
        nbytes += counted[1]
    return files, nbytes, dirs


def check_files(path: str, groups: list[tuple[str, str]]) -> Counted | None:
    """`check_groups` over groups whose records are in files ([group, records file]; a missing
    file is a group without records)."""
    return check_groups(path, ((group, _lines(records)) for group, records in groups))


def _lines(records: str) -> Iterator[str]:
    try:
        fh = open(records, encoding="utf-8")
    except FileNotFoundError:
        return
    with fh:
        yield from fh


def _main() -> None:
    job = json.loads(sys.stdin.buffer.read())
    out = check_files(job["path"], [(g, r) for g, r in job["groups"]])
    sys.stdout.write(json.dumps(out))  # ASCII: paths that are not UTF-8 travel as escaped surrogates


if __name__ == "__main__":
    _main()
