"""surfturf: surface chunky post-training shortcuts (SURF) and trace them to data (TURF)."""

import sys

__version__ = "0.1.0"

# httpx imports its own command-line client (click, rich, pygments) whenever those happen to be
# installed, as they are here: at every start of `surfturf`, for a CLI we never run. Marked
# unimportable, httpx keeps its documented fallback (an `httpx.main` that explains the extra).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
