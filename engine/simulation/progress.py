"""A progress bar on stderr with events per second (the edge: it reads the wall clock).

The simulation calls :meth:`Progress.update` with the step it reached and the
number of events so far; the bar redraws at most a few times per second, so
it costs nothing measurable.  On a non-terminal stderr (CI logs, pipes) it
prints one plain line every ~10% instead of redrawing.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``[#####.....]  52%  step 375/720  events 81,204  41,530 ev/s  0:02``."""

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.interactive = enabled and self.stream.isatty()
        self.started = time.perf_counter()
        self.last_draw = 0.0
        self.last_decile = -1
        self.events = 0
        self.step = 0

    def elapsed(self) -> float:
        """Seconds since the bar was created."""
        return time.perf_counter() - self.started

    def rate(self) -> float:
        """Events per second so far."""
        return self.events / max(self.elapsed(), 1e-9)

    def line(self) -> str:
        """The bar as one line of text."""
        width = 24
        done = min(self.step, self.total)
        filled = done * width // self.total
        percent = done * 100 // self.total
        seconds = int(self.elapsed())
        bar = "#" * filled + "." * (width - filled)
        label = f"{self.label} " if self.label else ""
        return (
            f"{label}[{bar}] {percent:3d}%  step {done}/{self.total}  "
            f"events {self.events:,}  {self.rate():,.0f} ev/s  {seconds // 60}:{seconds % 60:02d}"
        )

    def update(self, step: int, events: int) -> None:
        """Record progress; redraw if enough time passed (or print a line per 10% when not a terminal)."""
        self.step = step
        self.events = events
        if not self.enabled:
            return
        if self.interactive:
            now = time.perf_counter()
            if now - self.last_draw >= 0.2 or step >= self.total:
                self.last_draw = now
                self.stream.write("\r" + self.line() + "\x1b[K")
                self.stream.flush()
            return
        decile = min(self.step, self.total) * 10 // self.total
        if decile != self.last_decile:
            self.last_decile = decile
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        if not self.enabled:
            return
        if self.interactive:
            self.stream.write("\r" + self.line() + "\x1b[K\n")
        elif self.last_decile != 10:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
