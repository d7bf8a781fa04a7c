"""`invoke logs`: the API's, the authorizer's and the gateway's access log, merged in time order, one line per
event; `--follow` keeps polling. The log groups are the ones the application template creates
(`ProjectConfig.log_groups`). Calls: logs:FilterLogEvents on those groups (read-only).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from botocore.exceptions import ClientError

from lifecycle.aws import Aws
from lifecycle.errors import LifecycleError
from troposphere_templates.config import ProjectConfig

SOURCES = ("api", "authorizer", "gateway")
# Which of the template's log groups each source reads.
SOURCE_GROUP_KEYS = {"api": "api", "authorizer": "authorizer", "gateway": "access"}
COLOURS = {"api": "\x1b[36m", "authorizer": "\x1b[35m", "gateway": "\x1b[33m"}
RESET = "\x1b[0m"
DURATION = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
FOLLOW_POLL_SECONDS = 2.0
# CloudWatch Logs may ingest an event a little after its timestamp: a follow poll looks this far back and
# drops what it already printed.
FOLLOW_OVERLAP_MS = 10_000


@dataclass(frozen=True)
class LogEvent:
    timestamp: int  # milliseconds since the epoch, as CloudWatch Logs gives it
    source: str
    message: str
    event_id: str


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`10m`, `2h`, `1d`, `30s`, `1w`, or an ISO 8601 time (UTC unless it names a zone)."""
    now = now or datetime.now(UTC)
    value = text.strip()
    match = DURATION.match(value)
    if match:
        return now - timedelta(seconds=int(match.group(1)) * UNIT_SECONDS[match.group(2)])
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LifecycleError(
            "--since takes a duration like 10m, 2h or 1d, or an ISO time like 2026-11-28T06:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def log_groups(config: ProjectConfig, source: str = "") -> dict[str, str]:
    """Source name -> log group name, for every source or the one asked for."""
    if source and source not in SOURCES:
        raise LifecycleError(f"--source must be one of {', '.join(SOURCES)}, not {source!r}")
    return {
        name: config.log_groups[SOURCE_GROUP_KEYS[name]] for name in SOURCES if not source or name == source
    }


def format_event(event: LogEvent, colour: bool = False) -> str:
    """`2026-11-28 06:50:01.123  api         message` with the message's own line breaks escaped."""
    when = datetime.fromtimestamp(event.timestamp / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    source = f"{event.source:<10}"
    if colour:
        source = f"{COLOURS[event.source]}{source}{RESET}"
    message = event.message.rstrip("\r\n").replace("\r\n", "\\n").replace("\n", "\\n")
    return f"{when}  {source}  {message}"


def _events_of(
    logs: Any, source: str, group: str, start_ms: int, pattern: str
) -> tuple[list[LogEvent], bool]:
    """All events of one group since `start_ms` (every page); False when the group does not exist."""
    arguments: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
    if pattern:
        arguments["filterPattern"] = pattern
    events = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(**arguments):
            events += [
                LogEvent(e["timestamp"], source, e.get("message", ""), e.get("eventId", ""))
                for e in page["events"]
            ]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return [], False
        raise
    return events, True


def read(
    aws: Aws, groups: dict[str, str], start: datetime, pattern: str = ""
) -> tuple[list[LogEvent], list[str]]:
    """Events of every group since `start`, merged in time order; and the groups that do not exist."""
    logs = aws.client("logs")
    start_ms = int(start.timestamp() * 1000)
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        results = {
            source: pool.submit(_events_of, logs, source, group, start_ms, pattern)
            for source, group in groups.items()
        }
        merged: list[LogEvent] = []
        missing = []
        for source, future in results.items():
            events, exists = future.result()
            merged += events
            if not exists:
                missing.append(groups[source])
    if len(missing) == len(groups):
        raise LifecycleError(
            f"no log group {' or '.join(missing)}: deploy the application stack first (`invoke deploy`)"
        )
    return sorted(merged, key=lambda e: (e.timestamp, SOURCES.index(e.source))), missing


def print_events(events: Iterable[LogEvent], out: TextIO, colour: bool) -> int:
    count = 0
    for event in events:
        print(format_event(event, colour), file=out, flush=True)
        count += 1
    return count


def follow(
    aws: Aws,
    groups: dict[str, str],
    start: datetime,
    pattern: str,
    out: TextIO,
    colour: bool,
    poll_seconds: float = FOLLOW_POLL_SECONDS,
    keep_going: Callable[[], bool] = lambda: True,
) -> int:
    """Print events as they arrive until Ctrl+C (or `keep_going` says stop); return how many were printed."""
    printed: set[str] = set()
    since_ms = int(start.timestamp() * 1000)
    count = 0
    while keep_going():
        events, _ = read(aws, groups, datetime.fromtimestamp(since_ms / 1000, UTC), pattern)
        fresh = [e for e in events if e.event_id not in printed]
        count += print_events(fresh, out, colour)
        printed.update(e.event_id for e in fresh)
        if events:
            newest = max(e.timestamp for e in events)
            since_ms = max(since_ms, newest - FOLLOW_OVERLAP_MS)
            printed = {e.event_id for e in events if e.timestamp >= since_ms}
        time.sleep(poll_seconds)
    return count


def run(
    config: ProjectConfig,
    aws: Aws,
    out: TextIO,
    err: TextIO,
    source: str = "",
    since: str = "10m",
    pattern: str = "",
    keep_following: bool = False,
) -> None:
    """What `invoke logs` does: print the events, or follow them until Ctrl+C; notes go to `err`."""
    groups = log_groups(config, source)
    start = parse_since(since)
    # Colour only for a person at a terminal: never in a pipe or a file, nor with NO_COLOR set (no-color.org).
    colour = out.isatty() and not os.environ.get("NO_COLOR")
    if keep_following:
        try:
            follow(aws, groups, start, pattern, out, colour)
        except KeyboardInterrupt:
            print("stopped following the logs", file=err)
        return
    try:
        events, missing = read(aws, groups, start, pattern)
    except KeyboardInterrupt:
        print("interrupted before the events were read", file=err)
        return
    for group in missing:
        print(f"note: no log group {group} (not deployed, or nothing logged yet)", file=err)
    if not print_events(events, out, colour):
        what = f" matching {pattern!r}" if pattern else ""
        print(
            f"no events{what} since {start:%Y-%m-%d %H:%M:%S} UTC in {', '.join(groups.values())}", file=err
        )
