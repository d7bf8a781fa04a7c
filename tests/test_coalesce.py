"""The Coalescer on its own: batching, each caller's own result or error, and no caller left waiting forever.

Every wait on a caller is bounded by `settle` (a hang guard, not a speed check): a caller that never hears
back fails the test instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from app.core.coalesce import Coalescer

T = TypeVar("T")
HANG = 10


async def settle(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, HANG)


class Recorder:
    """A batch runner that records its batches; a batch can be held until the test releases it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def run(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(items)
        self.started.set()
        await self.release.wait()
        return [ValueError(f"odd {item}") if item % 2 else item * 10 for item in items]


async def test_calls_made_while_a_batch_runs_share_the_next_batch_in_order() -> None:
    runner = Recorder()
    runner.release.clear()
    coalescer: Coalescer[int, int] = Coalescer(runner.run, max_batch=3)
    first = asyncio.create_task(coalescer.submit(0))
    await settle(runner.started.wait())
    later = [asyncio.create_task(coalescer.submit(item)) for item in (2, 4, 6, 8)]
    await asyncio.sleep(0)
    runner.release.set()
    assert await settle(first) == 0
    assert await settle(asyncio.gather(*later)) == [20, 40, 60, 80]
    assert runner.batches == [[0], [2, 4, 6], [8]], "queued calls batch up to max_batch, in order"


async def test_each_caller_gets_its_own_error_and_the_others_their_results() -> None:
    coalescer: Coalescer[int, int] = Coalescer(Recorder().run, max_batch=10)
    results = await settle(asyncio.gather(*(coalescer.submit(i) for i in range(4)), return_exceptions=True))
    assert [str(r) if isinstance(r, ValueError) else r for r in results] == [0, "odd 1", 20, "odd 3"]


async def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_runs() -> None:
    calls = 0

    async def flaky(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk I/O error")
        return items

    coalescer: Coalescer[int, int] = Coalescer(flaky, max_batch=10)
    failed = await settle(asyncio.gather(coalescer.submit(1), coalescer.submit(2), return_exceptions=True))
    assert [str(error) for error in failed] == ["disk I/O error", "disk I/O error"]
    assert await settle(coalescer.submit(3)) == 3


async def test_a_runner_with_the_wrong_number_of_results_fails_its_callers_instead_of_hanging() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    coalescer: Coalescer[int, int] = Coalescer(short, max_batch=10)
    results = await settle(asyncio.gather(coalescer.submit(1), coalescer.submit(2), return_exceptions=True))
    assert all(isinstance(r, RuntimeError) and "2 items" in str(r) for r in results), results


async def test_a_caller_that_goes_away_does_not_disturb_the_others() -> None:
    runner = Recorder()
    runner.release.clear()
    coalescer: Coalescer[int, int] = Coalescer(runner.run, max_batch=10)
    leaving = asyncio.create_task(coalescer.submit(2))
    staying = asyncio.create_task(coalescer.submit(4))
    await settle(runner.started.wait())
    leaving.cancel()
    runner.release.set()
    assert await settle(staying) == 40
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_batch_cancelled_inside_its_runner_ends_its_callers_waits_and_the_queue_goes_on() -> None:
    """A runner whose own await is cancelled (say a connection checkout torn down under it)."""
    gate = asyncio.get_running_loop().create_future()
    batches: list[list[int]] = []
    running = asyncio.Event()

    async def runner(items: list[int]) -> list[int]:
        batches.append(items)
        running.set()
        if len(batches) == 1:
            await gate  # cancelled below, as if by whatever owned it
        return items

    coalescer: Coalescer[int, int] = Coalescer(runner, max_batch=10)
    first = asyncio.create_task(coalescer.submit(1))
    await settle(running.wait())
    queued = asyncio.create_task(coalescer.submit(2))
    await asyncio.sleep(0)
    gate.cancel()
    with pytest.raises(asyncio.CancelledError):
        await settle(first)
    assert await settle(queued) == 2, "the calls queued behind a cancelled batch still run"


async def test_cancelling_the_worker_ends_every_callers_wait() -> None:
    """What a shutdown does: every task is cancelled, the coalescer's worker among them."""
    runner = Recorder()
    runner.release.clear()
    coalescer: Coalescer[int, int] = Coalescer(runner.run, max_batch=1)
    before = asyncio.all_tasks()
    in_batch = asyncio.create_task(coalescer.submit(2))
    await settle(runner.started.wait())
    queued = asyncio.create_task(coalescer.submit(4))
    await asyncio.sleep(0)
    (worker,) = asyncio.all_tasks() - before - {in_batch, queued}
    worker.cancel()
    for caller in (in_batch, queued):
        with pytest.raises(asyncio.CancelledError):
            await settle(caller)
    assert runner.batches == [[2]]
