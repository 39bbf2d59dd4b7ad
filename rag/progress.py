"""Progress of a long step (embedding the passages) on stderr, measured rather than promised.

On a terminal: a live tqdm bar (done / total, rate, time left). In a log (CI, a service manager, a pipe): no
bar redraws, a plain line at every tenth instead, so the log stays readable."""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


class Progress:
    """Counts `done` of `total` units. Silent when `say` is None (library use, tests); otherwise a bar when
    `stream` is a terminal, else `say` gets a line at every tenth."""

    def __init__(self, total: int, unit: str, say: Callable[[str], None] | None, stream: TextIO | None = None):
        from tqdm import tqdm

        stream = stream or sys.stderr
        self.total, self.unit, self.say = total, unit, say
        self.done, self.started, self.next_tenth = 0, time.perf_counter(), 1
        live = say is not None and bool(getattr(stream, "isatty", lambda: False)())
        self.bar = tqdm(total=total, unit=unit, desc="embedding", file=stream, dynamic_ncols=True,
                        mininterval=0.5, smoothing=0.1) if live else None

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        tenth = self.done * 10 // self.total if self.total else 0
        if self.say is not None and tenth >= self.next_tenth:
            self.next_tenth = tenth + 1
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            rate = self.done / elapsed
            units = self.unit if self.total == 1 else self.unit + "s"
            if self.done >= self.total:
                self.say(f"embedded {self.total} {units} in {elapsed:.0f} s ({rate:.1f}/s)")
            else:
                self.say(f"embedded {self.done}/{self.total} {units} ({rate:.1f}/s, {elapsed:.0f} s so far, "
                         f"about {(self.total - self.done) / rate:.0f} s left at this rate)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
