"""One progress policy for every command that runs days or runs.

- on a terminal: a tqdm bar on stderr, erased when done (the command's own last lines stay);
- not on a terminal (a log, a pipe, CI): a plain line on stderr every `every` units (by
  default about a tenth of the total) and at the end, e.g.
  `default: day 146/730 (20 %), 3.1 s` — no carriage returns or bar characters in the log;
- `--quiet`: nothing.

    with Progress(total=730, desc="default", unit="day", quiet=args.quiet) as bar:
        model.run(lambda m: bar.update())

A sweep counts runs the same way, from the runs already stored (`initial`), with a line
per run or per few runs in a log (`every`), its estimate of the time left (`eta`) and the
failures so far (`note`): `grid_size: run 40/96 (42 %), 31.0 s, about 43 s left, 1 failed`.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO


def on_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):     # no isatty, or a closed stream
        return False


class Progress:
    """Counts `total` units of work; shows them as the policy above says (`mode`: bar, log or off)."""

    def __init__(self, total: int, desc: str, unit: str = "day", *, quiet: bool = False, every: int | None = None,
                 stream: TextIO | None = None, initial: int = 0, eta: bool = False):
        self.total, self.desc, self.unit, self.initial, self.eta = int(total), desc, unit, int(initial), eta
        self.stream = stream if stream is not None else sys.stderr
        self.every = max(1, int(every) if every else math.ceil((self.total - self.initial) / 10))
        self.done, self.t0 = self.initial, time.perf_counter()
        self._next = self.initial + self.every
        self.notes = ""
        self.mode = "off" if quiet or self.total <= self.initial else ("bar" if on_terminal(self.stream) else "log")
        self._bar, self._ended = None, False
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self.initial, unit=unit, desc=desc, leave=False, file=self.stream)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.mode == "log" and (self.done >= self._next or (self.done >= self.total and not self._ended)):
            while self._next <= self.done:
                self._next += self.every
            self._ended = self.done >= self.total
            self.log()

    def log(self) -> None:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        left = ""
        if self.eta and self.initial < self.done < self.total:
            rest = self.elapsed / (self.done - self.initial) * (self.total - self.done)
            left = f", about {rest:.0f} s left" if rest < 120 else f", about {rest / 60:.0f} min left"
        print(f"{self.desc}: {self.unit} {self.done:,}/{self.total:,} ({pct:.0f} %), {self.elapsed:.1f} s{left}"
              f"{', ' + self.notes if self.notes else ''}", file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """Text shown after the counts from now on (e.g. `2 failed`)."""
        self.notes = text
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def write(self, text: str) -> None:
        """A message line that does not break the bar."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
