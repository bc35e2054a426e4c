"""Progress bars on stderr (tqdm), shown only to a person watching a terminal."""

from __future__ import annotations

import sys
import threading


class Progress:
    """A thread-safe byte counter with an optional bar."""

    def __init__(self, total: int, desc: str, show: bool | None) -> None:
        self.done = 0
        self._lock = threading.Lock()
        if show is None:
            show = sys.stderr.isatty()
        self._bar = None
        if show and total > 0:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                             file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(self, n: int) -> None:
        with self._lock:
            self.done += n
            if self._bar is not None:
                self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
