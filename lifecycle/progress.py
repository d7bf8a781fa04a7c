"""Stack events as they happen, and a spinner with the elapsed time (plain lines off a TTY)."""

from __future__ import annotations

import itertools
import sys
import time
from datetime import datetime
from typing import Any, TextIO

SPINNER = "|/-\\"
# Off a TTY there is no spinner; a line this often still shows that the wait is alive (CI logs, pipes).
PLAIN_HEARTBEAT_SECONDS = 30.0


def format_event(event: dict[str, Any]) -> str:
    """One event as `time  logical-id  type  STATUS  reason`, columns aligned for a scrolling log."""
    stamp = event["Timestamp"]
    when = stamp.strftime("%H:%M:%S") if isinstance(stamp, datetime) else str(stamp)
    parts = [
        when,
        f"{event.get('LogicalResourceId', ''):<32}",
        f"{event.get('ResourceType', ''):<36}",
        f"{event.get('ResourceStatus', ''):<20}",
    ]
    reason = " ".join(str(event.get("ResourceStatusReason") or "").split())
    return "  ".join(parts + ([reason] if reason else [])).rstrip()


def format_elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class Progress:
    """Prints lines; on a TTY keeps a spinner line (`<label> 1:23`) under them, rewritten in place."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self._spin = itertools.cycle(SPINNER)
        self._status_shown = False
        self._last_plain = 0.0

    def line(self, text: str) -> None:
        self._clear_status()
        print(text, file=self.stream, flush=True)

    def status(self, label: str, started: float) -> None:
        """Show that a wait is alive: a spinner line on a TTY, a heartbeat line now and then otherwise."""
        elapsed = time.monotonic() - started
        if self.tty:
            self.stream.write(f"\r\x1b[K{next(self._spin)} {label} {format_elapsed(elapsed)}")
            self.stream.flush()
            self._status_shown = True
        elif elapsed - self._last_plain >= PLAIN_HEARTBEAT_SECONDS:
            self._last_plain = elapsed
            print(f"... {label} {format_elapsed(elapsed)}", file=self.stream, flush=True)

    def done(self) -> None:
        self._clear_status()
        self._last_plain = 0.0

    def _clear_status(self) -> None:
        if self._status_shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._status_shown = False
