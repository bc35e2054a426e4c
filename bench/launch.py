"""A small launcher: `python -m bench.launch RESULT CMD...` runs CMD and writes its seconds and peak RSS.

Why a launcher: a child's ru_maxrss starts at the high-water mark of the process that forked it
(Linux keeps it across exec), so children forked by the benchmark itself (which holds generated
data in memory) would report the benchmark's memory.  Spawned from this small process, the
measured command's peak RSS is its own (with this launcher's ~10 MB as the floor).
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    result, cmd = argv[0], argv[1:]
    started = time.perf_counter()
    pid = os.posix_spawnp(cmd[0], cmd, os.environ)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as fh:
        json.dump({"seconds": seconds, "max_rss_kib": usage.ru_maxrss, "exit": code}, fh)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
