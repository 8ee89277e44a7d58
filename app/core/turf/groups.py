"""Which chunk, prompt cluster and attributes every row of a dataset has, as integer codes.

Built once at ingest and saved beside the indexes, so a trace counts behaviour-positive rows per
group with numpy over the positives' positions (a bincount), instead of reading and walking every
row of the dataset: on a million rows that is milliseconds instead of a full table scan.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

UNLABELLED = "(unlabelled)"  # the chunk of a row without a `source`
MAX_ATTRIBUTES = 64  # one bit each per row while building


def cluster_label(labels: dict[str, str], cluster: int) -> str:
    """A prompt cluster's name: its distinctive terms (ingest's labels), else its number."""
    return labels.get(str(cluster)) or f"cluster {cluster}"


@dataclass(frozen=True)
class RowMeta:
    ordinal: int
    chunk: str
    cluster: str
    attributes: tuple[str, ...]


@dataclass
class Family:
    """One family of groups: a code per row, or (attributes) a row × group membership matrix."""

    name: str  # chunk | cluster | attribute
    names: list[str]
    members: np.ndarray  # int32 codes (n,) or bool (n, len(names))

    def counts(self, positions: np.ndarray | None = None) -> np.ndarray:
        """How many rows (or only those at `positions`) fall in each group."""
        m = self.members if positions is None else self.members[positions]
        if m.ndim == 2:
            return np.asarray(m.sum(axis=0), dtype=np.int64)
        return np.bincount(m, minlength=len(self.names)).astype(np.int64)


class GroupCodes:
    """Row ordinals (sorted) and the three families of groups, with their base counts."""

    def __init__(self, ordinals: np.ndarray, families: list[Family]) -> None:
        self.ordinals = np.asarray(ordinals, dtype=np.int64)
        self.families = {f.name: f for f in families}
        self.base = {f.name: f.counts() for f in families}

    @property
    def n(self) -> int:
        return len(self.ordinals)

    def positions(self, ordinals: Iterable[int]) -> np.ndarray:
        """Positions of the given row ordinals (unknown ordinals are dropped)."""
        wanted = np.unique(np.fromiter(ordinals, dtype=np.int64))
        at = np.searchsorted(self.ordinals, wanted)
        ok = (at < self.n) & (self.ordinals[np.minimum(at, self.n - 1)] == wanted) if self.n else at < 0
        return at[ok]

    def ordinals_in(self, family: str, group: str, among: Iterable[int]) -> list[int]:
        """The ordinals of `among` (ascending) whose row is in `group` of `family`."""
        f = self.families[family]
        at = self.positions(among)
        code = f.names.index(group) if group in f.names else -1
        inside = f.members[at, code] if f.members.ndim == 2 else f.members[at] == code
        return self.ordinals[at[inside]].tolist() if code >= 0 else []

    @classmethod
    def build(cls, meta: Iterable[RowMeta]) -> GroupCodes:
        builder = GroupCodesBuilder()
        for m in meta:
            builder.add(m.ordinal, m.chunk, m.cluster, m.attributes)
        return builder.build()

    def save(self, path: Path) -> None:
        names = {name: f.names for name, f in self.families.items()}
        f = self.families
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, ordinals=self.ordinals, names=np.array(json.dumps(names)),  # no pickle needed
                 members_chunk=f["chunk"].members, members_cluster=f["cluster"].members,
                 members_attribute=f["attribute"].members)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> GroupCodes:
        with np.load(path) as data:
            names = json.loads(str(data["names"]))
            return cls(data["ordinals"], [Family(name, names[name], data[f"members_{name}"])
                                          for name in ("chunk", "cluster", "attribute")])


class GroupCodesBuilder:
    """Rows in, codes out, streaming: a few bytes per row (no row objects are kept), so an
    ingest of millions of rows builds its codes in bounded memory."""

    def __init__(self) -> None:
        self._ordinals = array("q")
        self._chunks = array("i")
        self._clusters = array("i")
        self._masks = array("Q")
        self._codes: dict[str, dict[Hashable, int]] = {"chunk": {}, "cluster": {}, "attribute": {}}

    def _code(self, family: str, key: Hashable) -> int:
        codes = self._codes[family]
        return codes.setdefault(key, len(codes))

    def add(self, ordinal: int, chunk: str, cluster: Hashable, attributes: Iterable[str]) -> None:
        mask = 0
        for a in attributes:
            bit = self._code("attribute", a)
            if bit >= MAX_ATTRIBUTES:
                raise ValueError(f"more than {MAX_ATTRIBUTES} distinct prompt attributes")
            mask |= 1 << bit
        self._ordinals.append(ordinal)
        self._chunks.append(self._code("chunk", chunk))
        self._clusters.append(self._code("cluster", cluster))
        self._masks.append(mask)

    def build(self, cluster_name: Callable[[Hashable], str] = str) -> GroupCodes:
        """`cluster_name` names a cluster key once every row is in (labels come last)."""
        ordinals = np.frombuffer(self._ordinals, dtype=np.int64) if self._ordinals else np.zeros(0, np.int64)
        order = np.argsort(ordinals, kind="stable")

        def column(values: array[int], dtype: type) -> np.ndarray:
            return np.asarray(values, dtype=dtype)[order] if len(values) else np.zeros(0, dtype)

        masks = column(self._masks, np.uint64)
        attrs = list(self._codes["attribute"])
        member = ((masks[:, None] >> np.arange(len(attrs), dtype=np.uint64)) & np.uint64(1)).astype(bool)
        families = [_named("chunk", [str(k) for k in self._codes["chunk"]], column(self._chunks, np.int32)),
                    _named("cluster", [cluster_name(k) for k in self._codes["cluster"]],
                           column(self._clusters, np.int32)),
                    Family("attribute", [str(a) for a in attrs], member.reshape(len(masks), len(attrs)))]
        return GroupCodes(ordinals[order], families)


def _named(family: str, names: list[str], codes: np.ndarray) -> Family:
    """Groups are their names: keys that share one (two clusters labelled alike) are one group."""
    unique = sorted(set(names))
    remap = np.array([unique.index(x) for x in names], dtype=np.int32)
    return Family(family, unique, remap[codes] if len(codes) else codes)
