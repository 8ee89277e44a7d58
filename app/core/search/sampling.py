"""How a candidate's attributes are drawn. Two rules, by the kind of pool:

- a list of attributes (inline, built-in, mined, surfturf's JSONL): k ~ Bin(5, 0.5) drawn by
  buffer weight plus up to two uniform ones (results from before record pools stand);
- SURF's attribute records: SURF's rule. k ~ Bin(5, 0.5) attributes drawn without replacement by
  their summed buffer scores (only buffer entries scoring above 0 count), plus a random subset of
  1-5 attributes of one random record, each dropped with a probability that grows with k
  (0, 0, .2, .4, .6, .8 for k = 0..5), filled up to the cap, shuffled. Duplicates between the two
  draws are removed (SURF keeps them); a draw left empty keeps one of the record's attributes.

Every choice comes from a generator seeded by (seed, run, iteration, index) and from the buffer,
so a resumed search plans exactly the candidates it would have."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.search.attributes import Attribute

if TYPE_CHECKING:
    from app.core.search.loop import Candidate
    from app.core.search.records import RecordPool
    from app.core.search.spec import SearchSpec

Key = tuple[int, int, int]  # (run, iteration, index)
EXPLORE = 1.0  # added to every weight: an attribute no buffer entry carries can still be drawn
EXCLUSION_BY_K = {0: 0.0, 1: 0.0, 2: 0.2, 3: 0.4, 4: 0.6, 5: 0.8}
NO_PROMPT = -1  # a record pool's candidate has no seed prompt: its query is written from attributes


@dataclass(frozen=True)
class Plan:
    run: int
    iteration: int
    index: int
    attributes: tuple[str, ...]
    prompt_index: int
    sampling: dict[str, Any] | None = None  # which were weighted, which random; the record drawn

    @property
    def key(self) -> Key:
        return (self.run, self.iteration, self.index)


def rng_for(seed: int, key: Key) -> random.Random:
    """Python's own generator (no numpy on the API's import path), seeded per candidate."""
    digest = hashlib.sha256(f"surf|{seed}|{key[0]}|{key[1]}|{key[2]}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def binomial_k(rng: random.Random) -> int:
    return sum(rng.random() < 0.5 for _ in range(5))


def weights(pool: list[Attribute], buffer: list[Candidate]) -> list[float]:
    """Each attribute's summed judge score over the buffer entries that carry it."""
    index = {a.id: i for i, a in enumerate(pool)}
    w = [0.0] * len(pool)
    for c in buffer:
        for aid in c.attributes:
            if aid in index:
                w[index[aid]] += c.score or 0.0
    return w


def plan(spec: SearchSpec, pool: list[Attribute], w: list[float], key: Key, n_prompts: int) -> Plan:
    """A list pool's rule: weighted draws plus up to two uniform, capped; never none."""
    rng = rng_for(spec.seed, key)
    cap = min(spec.budget.max_attributes_per_candidate, len(pool))
    k = min(binomial_k(rng), cap)
    left = list(range(len(pool)))
    weighted: list[int] = []
    for _ in range(k):
        i = rng.choices(left, weights=[w[j] + EXPLORE for j in left])[0]
        weighted.append(i)
        left.remove(i)
    extra = rng.randrange(3)
    rng.shuffle(left)
    uniform = left[: max(0, min(extra, cap - len(weighted)))]
    if not weighted and not uniform:
        uniform = [rng.randrange(len(pool))]
    chosen = sorted(set(weighted) | set(uniform))
    ids = tuple(pool[i].id for i in chosen)  # in pool order: templates compose in a fixed order
    return Plan(*key, ids, rng.randrange(n_prompts), {
        "k": k, "weighted": [pool[i].id for i in weighted], "random": [pool[i].id for i in uniform]})


def buffer_weights(buffer: list[Candidate]) -> dict[str, float]:
    """SURF's weighted pool: attribute → summed score of the buffer entries (score > 0) carrying it."""
    out: dict[str, float] = {}
    for c in buffer:
        if (c.score or 0.0) <= 0:
            continue
        for aid in c.attributes:
            out[aid] = out.get(aid, 0.0) + float(c.score or 0.0)
    return out


def weighted_without_replacement(rng: random.Random, w: dict[str, float], k: int) -> list[str]:
    items = list(w)
    chosen: list[str] = []
    for _ in range(min(k, len(items))):
        pick = rng.choices(items, weights=[w[a] for a in items])[0]
        chosen.append(pick)
        items.remove(pick)
    return chosen


def plan_records(spec: SearchSpec, records: RecordPool, w: dict[str, float], key: Key,
                 n_prompts: int) -> Plan:
    """SURF's rule (module docstring). `w` is `buffer_weights` of the run's buffer."""
    rng = rng_for(spec.seed, key)
    cap = spec.budget.max_attributes_per_candidate
    k = binomial_k(rng)
    weighted = weighted_without_replacement(rng, w, k) if w else []
    source = rng.randrange(records.n_records)
    attrs = records.record(source)
    drawn = rng.sample(attrs, min(rng.randint(1, 5), len(attrs)))
    exclusion = EXCLUSION_BY_K[k]
    kept = [c for c in drawn if rng.random() > exclusion]
    random_ids = [records.attribute(c).id for c in kept][: max(0, cap - len(weighted))]
    if not weighted and not random_ids:
        random_ids = [records.attribute(drawn[0]).id]
    combined = list(dict.fromkeys(weighted + random_ids))  # duplicates go, first place kept
    rng.shuffle(combined)
    combined = combined[:cap]
    prompt_index = rng.randrange(n_prompts) if n_prompts else NO_PROMPT
    texts = {a: records.seen[a].text for a in combined}
    return Plan(*key, tuple(combined), prompt_index, {
        "k": k, "weighted": weighted, "random": random_ids, "record": source,
        "exclusion": exclusion, "texts": texts})
