"""Send pacing: a client's lanes never send in a burst.

Lanes fall into step. A server that handles requests one at a time on one event loop (a Python
API front end such as the organism server) answers a burst of k requests one after another,
and a server whose timers tick in whole milliseconds (uvloop's) answers requests that arrived
in the same tick in the same tick. The k answers reach the client together, the client sends
k new requests at once, and the burst lives on: each request waits for up to k - 1 others at
the server, in and out. Measured on 2 cores against a 20 ms target at 16 lanes: 24 ms per
request instead of 21.5, and 2304 requests took 3.5 s instead of 3.15 s.

A pacer spaces consecutive sends by at least `share` of the time one lane's request takes,
divided by the number of lanes (the spacing of lanes spread evenly over one round trip), and
never by more than `max_gap`. Its rate limit is thus 1/share times the rate the lanes reach at
that latency (twice, by default): it breaks bursts up without capping throughput. Its timers
cost a little CPU: where the client's own CPU is the limit (thousands of requests a second)
pacing was up to 3% slower, elsewhere 0-10% faster (bench/pacing.py). Until a first answer gives
it a latency it lets every send through, so the first requests go at once.
"""

from __future__ import annotations

import asyncio
import time

SHARE = 0.5
MAX_GAP = 0.001  # seconds: against slow targets a burst costs the server little; don't wait
WEIGHT = 0.1  # of a new latency in the moving average


class Pacer:
    """Shared by a client's lanes; `wait` before a send, `observe` each answered request."""

    def __init__(self, lanes: int, *, share: float = SHARE, max_gap: float = MAX_GAP) -> None:
        self.lanes, self.share, self.max_gap = max(1, lanes), share, max_gap
        self.latency: float | None = None
        self._next = 0.0  # when the next send may go (perf_counter seconds)

    @property
    def gap(self) -> float:
        if self.latency is None:
            return 0.0
        return min(self.share * self.latency / self.lanes, self.max_gap)

    async def wait(self) -> None:
        """Take the next free send slot: now, or `gap` after the slot taken before it."""
        now = time.perf_counter()
        at = max(now, self._next)
        self._next = at + self.gap
        if at > now:
            await asyncio.sleep(at - now)

    def observe(self, seconds: float) -> None:
        self.latency = seconds if self.latency is None else (
            (1 - WEIGHT) * self.latency + WEIGHT * seconds)
