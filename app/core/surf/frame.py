"""An audit's answered samples as arrays: what every estimate, rate and fit of an analysis reads.

Built once per analysis (one pass over the samples) instead of once per finding, rate and fit:
reading each sample's scores again for every member of the family made the analysis grow with
the family's size times the samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.core.surf.samples import Sample
from app.core.surf.spec import ProbeSpec

NOT_COUNTED = -1  # in `y`: the scorer failed or gave no verdict, so the sample does not count


def _y(s: Sample, behaviour: str) -> int:
    y = s.elicited(behaviour)
    return NOT_COUNTED if y is None else int(y)


@dataclass(frozen=True)
class SampleFrame:
    """Answered samples in canonical order, with per-sample arrays. `codes[feature]` holds each
    sample's level as its index in `levels[feature]` (the spec's `level_names()`);
    `y[behaviour]` is 1, 0 or NOT_COUNTED."""

    levels: dict[str, list[str]]
    samples: list[Sample]
    prompt: np.ndarray
    sample_index: np.ndarray
    codes: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    scorer_failed: dict[str, np.ndarray]

    @classmethod
    def of(cls, spec: ProbeSpec, answered: Sequence[Sample]) -> SampleFrame:
        """`answered`: samples without a target error, in the order the analysis uses."""
        levels = {f: fs.level_names() for f, fs in spec.features.items()}
        index = {f: {lv: i for i, lv in enumerate(names)} for f, names in levels.items()}
        behaviours = list(spec.behaviours)
        return cls(
            levels=levels,
            samples=list(answered),
            prompt=np.array([s.prompt_index for s in answered], dtype=np.int64),
            sample_index=np.array([s.sample_index for s in answered], dtype=np.int64),
            codes={f: np.array([ix[s.cell[f]] for s in answered], dtype=np.int64)
                   for f, ix in index.items()},
            y={b: np.array([_y(s, b) for s in answered], dtype=np.int8) for b in behaviours},
            scorer_failed={b: np.array([bool(s.scores.get(b, {}).get("error")) for s in answered],
                                       dtype=bool) for b in behaviours})

    def __len__(self) -> int:
        return len(self.samples)

    def where(self, mask: np.ndarray) -> SampleFrame:
        """The samples where `mask` holds, in the same order."""
        rows = np.flatnonzero(mask)
        return SampleFrame(self.levels, [self.samples[i] for i in rows.tolist()], self.prompt[rows],
                           self.sample_index[rows], {f: c[rows] for f, c in self.codes.items()},
                           {b: y[rows] for b, y in self.y.items()},
                           {b: e[rows] for b, e in self.scorer_failed.items()})

    def at(self, feature: str, level: str) -> np.ndarray:
        """Which samples are at this level of `feature`."""
        return self.codes[feature] == self.levels[feature].index(level)

    def level_of(self, feature: str, rows: np.ndarray) -> np.ndarray:
        """The level names of `feature` for the samples where `rows` holds."""
        return np.array(self.levels[feature])[self.codes[feature][rows]]

    def strata(self, feature: str) -> np.ndarray:
        """One integer per sample naming its levels of every other feature."""
        code = np.zeros(len(self), dtype=np.int64)
        for f, c in self.codes.items():
            if f != feature:
                code = code * len(self.levels[f]) + c
        return code

    def first(self, mask: np.ndarray, count: int = 1) -> list[Sample]:
        return [self.samples[i] for i in np.flatnonzero(mask)[:count].tolist()]
