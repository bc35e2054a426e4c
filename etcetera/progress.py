"""Progress bars on stderr (tqdm), shown only to a person watching a terminal."""

from __future__ import annotations

import sys
import threading


class Progress:
    """A thread-safe byte counter with an optional bar."""

    def __init__(self, total: int | None, desc: str, show: bool | None) -> None:
        """`total` bytes, or None when a transfer learns its size batch by batch (see `grow`)."""
        self.done = 0
        self._lock = threading.Lock()
        if show is None:
            show = sys.stderr.isatty()
        self._bar = None
        if show and (total is None or total > 0):
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                             file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(self, n: int) -> None:
        with self._lock:
            self.done += n
            if self._bar is not None:
                self._bar.update(n)

    def grow(self, n: int) -> None:
        """`n` more bytes to transfer, planned after the bar started (a push streams in batches)."""
        with self._lock:
            if self._bar is not None and n:
                self._bar.total = (self._bar.total or 0) + n
                self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
