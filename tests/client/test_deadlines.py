"""Deadlines: the one-timer timeouts behind publish(timeout=...)."""

from __future__ import annotations

import asyncio

import pytest

from asyncmqtt._deadlines import Deadlines


async def test_a_pending_future_fails_with_timeout_error_at_its_deadline() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    future: asyncio.Future[str] = loop.create_future()
    deadline = loop.time() + 0.02
    deadlines.add(future, deadline)
    with pytest.raises(TimeoutError):
        await future
    # Not before the deadline; uvloop keeps its clock in whole milliseconds, hence the slack.
    assert loop.time() >= deadline - 0.001
    assert len(deadlines) == 0


async def test_a_future_done_in_time_keeps_its_result_and_is_forgotten() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    done: asyncio.Future[str] = loop.create_future()
    deadlines.add(done, loop.time() + 0.01)
    done.set_result("acknowledged")
    later: asyncio.Future[str] = loop.create_future()
    deadlines.add(later, loop.time() + 0.03)
    assert len(deadlines) == 1  # the finished head was dropped when the next came
    with pytest.raises(TimeoutError):
        await later
    assert done.result() == "acknowledged"


async def test_a_shorter_timeout_after_longer_ones_expires_first() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    slow: asyncio.Future[str] = loop.create_future()
    middle: asyncio.Future[str] = loop.create_future()
    fast: asyncio.Future[str] = loop.create_future()
    deadlines.add(slow, loop.time() + 30)
    deadlines.add(middle, loop.time() + 20)
    deadlines.add(fast, loop.time() + 0.01)
    with pytest.raises(TimeoutError):
        await fast
    assert not slow.done() and not middle.done()
    assert len(deadlines) == 2
    deadlines.close()


async def test_equal_timeouts_expire_together_in_order() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    futures: list[asyncio.Future[str]] = [loop.create_future() for _ in range(3)]
    for future in futures:
        deadlines.add(future, loop.time() + 0.01)
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert [type(result) for result in results] == [TimeoutError] * 3


async def test_close_forgets_everything_and_stops_the_timer() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    future: asyncio.Future[str] = loop.create_future()
    deadlines.add(future, loop.time() + 0.01)
    deadlines.close()
    assert len(deadlines) == 0
    # A marker with a later deadline on a new Deadlines shows time went past the first one.
    marker: asyncio.Future[str] = loop.create_future()
    Deadlines(loop).add(marker, loop.time() + 0.03)
    with pytest.raises(TimeoutError):
        await marker
    assert not future.done()
