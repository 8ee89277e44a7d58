"""collector_paused(): no collection inside, what it allocated frozen on the way out, the
collector back on after it (also after an error), and a nested pause leaves that to the outer."""

from __future__ import annotations

import gc

import pytest

from app.startup import collector_paused


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector could ever free it


def test_a_pause_collects_nothing_and_freezes_what_it_allocated() -> None:
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with collector_paused():
        assert not gc.isenabled()
        before = gc.get_count()[0]
        kept = [Node() for _ in range(5000)]
        assert gc.get_count()[0] >= before + 5000  # counted, never collected: the pause holds
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause did not end the outer one
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen + 5000  # start-up objects are never scanned again
    assert all(n.me is n for n in kept)


def test_the_collector_is_back_after_an_error_inside() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("start-up failed")
    assert gc.isenabled()
