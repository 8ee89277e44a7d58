"""Send pacing (app/core/llm/pacing.py): bursts are spread, nothing waits before a latency is
known, and the gap never exceeds its cap."""

from __future__ import annotations

import asyncio
import time

from app.core.llm.pacing import Pacer


async def _send_times(pacer: Pacer, n: int) -> list[float]:
    times: list[float] = []

    async def one() -> None:
        await pacer.wait()
        times.append(time.perf_counter())

    await asyncio.gather(*(one() for _ in range(n)))
    return sorted(times)


def _returns_without_waiting(pacer: Pacer) -> bool:
    """A coroutine that never suspends finishes on its first step: no timer, no clock race."""
    step = pacer.wait()
    try:
        step.send(None)
    except StopIteration:
        return True
    step.close()
    return False


def test_first_sends_go_at_once_then_a_burst_is_spread() -> None:
    pacer = Pacer(4, max_gap=1.0)

    async def first_four() -> bool:  # inside a loop, as a send is: a sleep would suspend, not fail
        return all(_returns_without_waiting(pacer) for _ in range(4))

    assert asyncio.run(first_four())  # no latency known: no waiting
    assert pacer.gap == 0.0

    pacer.observe(0.16)  # one lane's request: 160 ms; 4 lanes spread evenly: 40 ms apart
    assert abs(pacer.gap - 0.5 * 0.16 / 4) < 1e-12
    burst = asyncio.run(_send_times(pacer, 5))
    # Slots are a gap apart; a send resumed late shortens the gap after it, never its slot: the
    # k-th send is at least k gaps after the first (a timer never fires early).
    since = [t - burst[0] for t in burst]
    assert all(s >= k * pacer.gap * 0.99 for k, s in enumerate(since)), since


def test_gap_follows_the_latency_and_is_capped() -> None:
    pacer = Pacer(8)
    pacer.observe(0.008)
    assert abs(pacer.gap - 0.5 * 0.008 / 8) < 1e-12
    pacer.observe(0.018)  # a moving average: one slow answer moves it a tenth of the way
    assert abs(pacer.latency - (0.9 * 0.008 + 0.1 * 0.018)) < 1e-12  # type: ignore[operator]
    pacer.observe(30.0)  # a slow target: a burst costs its server little, so no long waits
    assert pacer.gap == 0.001
