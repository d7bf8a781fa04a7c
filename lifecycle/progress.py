"""Stack events as a table that grows as resources settle, and a spinner with the elapsed time (plain
lines off a TTY)."""

from __future__ import annotations

import itertools
import sys
import time
from datetime import datetime
from typing import Any, TextIO

SPINNER = "|/-\\"
# Off a TTY there is no spinner; a line this often still shows that the wait is alive (CI logs, pipes).
PLAIN_HEARTBEAT_SECONDS = 30.0


REPLACING_REASON = "Requested update requires the creation of a new physical resource"
DEFAULT_ID_WIDTH = 32
DEFAULT_TYPE_WIDTH = 36
STATUS_WIDTH = 20


def settled(event: dict[str, Any]) -> bool:
    """A resource has settled once its status no longer ends in _IN_PROGRESS (COMPLETE, FAILED, SKIPPED)."""
    return not str(event.get("ResourceStatus", "")).endswith("_IN_PROGRESS")


class EventTable:
    """A stack operation's events as a table: one row per resource when it settles (not one per event), with
    the time since the operation started and how long that resource took; the stack's own events only when
    they tell of a failure or rollback."""

    def __init__(self, stack_name: str, started: datetime, resources: dict[str, str] | None = None):
        self.stack_name = stack_name
        self.started = started
        names = list((resources or {}).keys()) + [stack_name]
        types = list((resources or {}).values()) + ["AWS::CloudFormation::Stack"]
        self.id_width = max(len(n) for n in names) if resources else DEFAULT_ID_WIDTH
        self.type_width = max(len(t) for t in types) if resources else DEFAULT_TYPE_WIDTH
        self.began: dict[str, datetime] = {}
        self.replaced: set[str] = set()
        self.in_progress: dict[str, str] = {}  # logical id -> status, for the spinner
        self.settled: dict[str, str] = {}  # logical id -> final status

    def header(self) -> str:
        columns = ["elapsed", f"{'resource':<{self.id_width}}", f"{'type':<{self.type_width}}"]
        columns += [f"{'status':<{STATUS_WIDTH}}", " took", "reason"]
        return "  " + "  ".join(columns)

    def _elapsed(self, stamp: datetime) -> str:
        return format_elapsed(max(0.0, (stamp - self.started).total_seconds()))

    def rows(self, event: dict[str, Any]) -> list[str]:
        """The row(s) this event adds: none while a resource is in progress, one when it settles."""
        logical_id = str(event.get("LogicalResourceId", ""))
        status = str(event.get("ResourceStatus", ""))
        reason = " ".join(str(event.get("ResourceStatusReason") or "").split())
        stamp = event["Timestamp"] if isinstance(event["Timestamp"], datetime) else self.started
        if event.get("ResourceType") == "AWS::CloudFormation::Stack" or logical_id == self.stack_name:
            if "ROLLBACK" not in status and "FAILED" not in status:
                return []
            return [self._row(stamp, logical_id, str(event.get("ResourceType", "")), status, "", reason)]
        if not settled(event):
            self.began.setdefault(logical_id, stamp)
            self.in_progress[logical_id] = status
            if reason.startswith(REPLACING_REASON):
                self.replaced.add(logical_id)
            return []
        self.in_progress.pop(logical_id, None)
        self.settled[logical_id] = status
        began = self.began.pop(logical_id, stamp)
        took = f"{(stamp - began).total_seconds():4.0f}s"
        if logical_id in self.replaced and status == "UPDATE_COMPLETE":
            reason = "replaced" + (f": {reason}" if reason else "")
        return [self._row(stamp, logical_id, str(event.get("ResourceType", "")), status, took, reason)]

    def _row(self, stamp: datetime, logical_id: str, kind: str, status: str, took: str, reason: str) -> str:
        parts = [
            f"{self._elapsed(stamp):>7}",
            f"{logical_id:<{self.id_width}}",
            f"{kind:<{self.type_width}}",
            f"{status:<{STATUS_WIDTH}}",
            f"{took:>5}",
            reason,
        ]
        return ("  " + "  ".join(parts)).rstrip()

    def busy(self) -> str:
        """What is still in progress, for the spinner line."""
        names = sorted(self.in_progress)
        if not names:
            return ""
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return f"in progress: {shown}"

    def summary(self) -> str:
        """`2 created, 1 updated (1 replaced), 1 deleted` from the settled resources."""
        counts: dict[str, int] = {}
        for status in self.settled.values():
            word = {
                "CREATE_COMPLETE": "created",
                "UPDATE_COMPLETE": "updated",
                "DELETE_COMPLETE": "deleted",
                "DELETE_SKIPPED": "kept",
            }.get(status, "failed" if status.endswith("_FAILED") else status.lower())
            counts[word] = counts.get(word, 0) + 1
        replaced = len(self.replaced & {k for k, v in self.settled.items() if v == "UPDATE_COMPLETE"})
        parts = [
            f"{n} {word}" + (f" ({replaced} replaced)" if word == "updated" and replaced else "")
            for word, n in counts.items()
        ]
        return ", ".join(parts) or "no resource changed"


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
