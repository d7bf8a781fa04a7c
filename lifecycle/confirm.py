"""Asking before what destroys data: `--yes` for scripts, a typed 'yes' on a terminal, else a refusal."""

from __future__ import annotations

import sys
from typing import TextIO

from lifecycle.errors import LifecycleError


def confirm(
    question: str, yes: bool, action: str, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> None:
    """Proceed on --yes or a typed 'yes'; with no terminal to ask on and no --yes, refuse.

    `action` completes the refusals: "refusing to <action> without confirmation", "did not <action>".
    """
    if yes:
        return
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if not stdin.isatty():
        raise LifecycleError(f"refusing to {action} without confirmation: no terminal to ask on; pass --yes")
    stdout.write(f"{question}.\nType 'yes' to continue: ")
    stdout.flush()
    if stdin.readline().strip().lower() != "yes":
        raise LifecycleError(f"did not {action}: not confirmed")
