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
    the previous batch ran (up to `max_batch`) and returns one result or exception per item, in order."""

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
            except Exception as exc:  # the whole batch failed: every caller hears why
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the caller went away (cancelled)
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
