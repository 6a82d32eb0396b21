"""The `cedar-smt` console script.

Loading the command takes a good part of a second (Z3, the parser, click); a Ctrl-C or
SIGTERM in that time stops it like one during a run (exit 130 or 143, one line, no
traceback), which the command itself can only arrange once it is loaded.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

EXIT_SIGNALLED = 128  # plus the signal's number, as the command exits


def _stop(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write(f"interrupted by {signal.Signals(signum).name}\n")
    raise SystemExit(EXIT_SIGNALLED + signum)


def main() -> None:
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        from cedar_smt.analyzer.cli import main as command
    except KeyboardInterrupt:
        _stop(signal.SIGINT, None)
    signal.signal(signal.SIGTERM, previous)
    command(prog_name="cedar-smt")


if __name__ == "__main__":
    main()
