"""Request coalescing: concurrent calls share one batch, so the single SQLite connection is held once per
batch instead of once per request.

With one connection (see app/core/db.py) every unit of work waits its turn, and each costs several thread
hops through the async driver; under load the hops, not SQLite, set the pace. Batching many requests into
one statement and one transaction (group commit) keeps the connection busy with real work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

BatchRunner = Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]]


class Coalescer(Generic[Item, Result]):
    """`await submit(item)` returns this item's result from `run_batch`, which gets every item queued while
    the previous batch ran (up to `max_batch`) and returns one result or exception per item, in order.
    A batch that is cancelled cancels its callers' awaits; cancelling the worker cancels every queued call."""

    def __init__(self, run_batch: BatchRunner[Item, Result], max_batch: int) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            items = [item for item, _ in batch]
            try:
                results: Sequence[Result | BaseException] = await self._run_batch(items)
            except asyncio.CancelledError:
                # This batch will never have results, so its callers' waits end with the cancellation too.
                # When the worker itself is being cancelled (shutdown), nobody will drain the queue either.
                _cancel(batch)
                worker = asyncio.current_task()
                if worker is not None and worker.cancelling():
                    queued, self._pending = self._pending, []
                    _cancel(queued)
                    raise
                continue
            except Exception as exc:  # the whole batch failed: every caller hears why
                results = [exc] * len(batch)
            if len(results) != len(batch):
                mismatch = RuntimeError(f"run_batch gave {len(results)} results for {len(batch)} items")
                results = [mismatch] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the caller went away (cancelled)
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)


def _cancel(waiting: list[tuple[Item, asyncio.Future[Result]]]) -> None:
    for _, future in waiting:
        future.cancel()  # a no-op for a caller that already went away
