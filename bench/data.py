"""Dataset shapes made of random (incompressible) bytes, and a tree comparison for pulled copies."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

KiB, MiB = 1 << 10, 1 << 20


@dataclass(frozen=True)
class Shape:
    name: str
    count: int
    size: int

    @property
    def total(self) -> int:
        return self.count * self.size

    def label(self) -> str:
        unit = f"{self.size // MiB} MiB" if self.size >= MiB else f"{self.size // KiB} KiB"
        return f"{self.count} x {unit}"


FULL = [Shape("small", 2000, 4 * KiB), Shape("medium", 200, 1 * MiB), Shape("large", 1, 256 * MiB)]
QUICK = [Shape("small", 200, 4 * KiB), Shape("medium", 10, 1 * MiB), Shape("large", 1, 40 * MiB)]
SCALE_STEPS = [100_000, 1_300_000]
SCALE_SIZE = 1 * KiB


def generate(root: Path, shape: Shape, count: int | None = None) -> Path:
    """A dataset folder: 90% of the files in data/train, 10% in data/test, spread over subfolders."""
    count = shape.count if count is None else count
    for i in range(count):
        part = "test" if count > 1 and i % 10 == 9 else "train"
        folder = root / "data" / part / f"{i // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"f{i:06d}.bin"
        with open(path, "wb") as fh:
            left = shape.size
            while left:
                block = os.urandom(min(left, 8 * MiB))
                fh.write(block)
                left -= len(block)
    return root


def first_file(root: Path) -> Path:
    return min((root / "data").rglob("f*.bin"))


def change_one_file(root: Path) -> int:
    """Overwrite the first 4 KiB (or all) of one file with new random bytes; return bytes changed."""
    path = first_file(root)
    n = min(4 * KiB, path.stat().st_size)
    with open(path, "r+b") as fh:
        fh.write(os.urandom(n))
    return n


def fingerprint(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under root/data, to check a pulled copy."""
    out = {}
    for path in sorted((root / "data").rglob("*")):
        if path.is_file():
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                while block := fh.read(MiB):
                    h.update(block)
            out[path.relative_to(root).as_posix()] = h.hexdigest()
    return out


def generate_many(root: Path, count: int, partitions: int = 10, size: int = SCALE_SIZE, per_folder: int = 1000) -> Path:
    """`count` files of `size` random bytes in `partitions` equal partitions, `per_folder` files per
    folder: the scale run's dataset, written as fast as Python can create files."""
    block = os.urandom(size + count)  # one pool of random bytes, read at a different offset per file
    for i in range(count):
        part, j = i % partitions, i // partitions
        folder = root / "data" / f"p{part:02d}" / f"{j // per_folder:05d}"
        if j % per_folder == 0:
            folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"f{j:07d}.bin", "wb") as fh:
            fh.write(block[i % count:i % count + size])
    return root
