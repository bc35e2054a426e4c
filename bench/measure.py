"""Run one command in a child process and measure its wall time and peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence


class OperationFailed(RuntimeError):
    """A measured command exited non-zero (the benchmark refuses to report a broken run)."""


@dataclass
class Measured:
    seconds: float
    max_rss_mb: float  # peak resident set of the command (and anything it waited for)
    stdout: str


LAUNCHER = str(Path(__file__).with_name("launch.py"))


def run(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None) -> Measured:
    """Run `cmd` through bench.launch: wall-clock seconds from spawn to exit, and its ru_maxrss."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".json", delete=False) as res:
        res.close()
        try:
            # The launcher by its path: it needs nothing from PYTHONPATH, which other tools run without.
            proc = subprocess.run([sys.executable, LAUNCHER, res.name, *cmd], stdout=out, stderr=err,
                                  env=dict(env) if env else None, cwd=cwd)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
            if proc.returncode != 0:
                tail = "\n".join(stderr.strip().splitlines()[-15:])
                raise OperationFailed(f"{' '.join(cmd[:5])} ... exited {proc.returncode}:\n{tail}")
            with open(res.name) as fh:
                got = json.load(fh)
        finally:
            os.unlink(res.name)
    return Measured(got["seconds"], got["max_rss_kib"] / 1024, stdout)  # ru_maxrss is KiB on Linux


def both(a: Measured, b: Measured) -> Measured:
    """Two commands a user runs one after the other: their seconds add up, the peak memory is the larger."""
    return Measured(a.seconds + b.seconds, max(a.max_rss_mb, b.max_rss_mb), b.stdout)
