"""Error spending for sequential audits: looks after each round, valid whenever sampling stops.

Look r of at most R spends alpha_r = alpha * ((r/R)^2 - ((r-1)/R)^2), the Kim-DeMets power family
with rho = 2: little at the first looks (only overwhelming effects are decided there) and most at
the last, so a sequential audit that runs to its budget loses little against a fixed one. The
looks spend exactly alpha in all. Each look's intervals are valid at 1 - alpha_r, and by the union
bound the sequence of them covers at every look at once with probability at least 1 - alpha: a
confidence sequence over the planned looks, so stopping as soon as every finding is decided (or
never) keeps the error guarantee. The same holds for selection: each look runs BH at alpha_r, and a
false flag at any look is charged to that look's share of alpha.
"""

from __future__ import annotations

import math

RHO = 2.0


def rounds(max_samples: int, per_round: int) -> int:
    return max(1, math.ceil(max_samples / per_round))


def look_alpha(alpha: float, look: int, looks: int) -> float:
    """The share of alpha spent at look `look` (1-based) of at most `looks`."""
    if not 1 <= look <= looks:
        raise ValueError(f"look {look} outside 1..{looks}")
    return alpha * ((look / looks) ** RHO - ((look - 1) / looks) ** RHO)


def samples_at(look: int, per_round: int, max_samples: int) -> int:
    """Samples per prompt per cell taken by the end of round `look`."""
    return min(look * per_round, max_samples)
