"""TURF's core without a database or an embedder: enrichment, the trace verdict, the FAISS index
and cluster labels, each on data whose answer is known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import fisher_exact

from app.core.turf.enrichment import enrichment
from app.core.turf.groups import GroupCodes
from app.core.turf.index import VectorIndex, kmeans
from app.core.turf.labels import ClusterTerms
from app.core.turf.trace import RowMeta, trace


def planted_meta(n: int = 600) -> tuple[list[RowMeta], set[int]]:
    """Chunk 'tagged' (a third of the rows, all with the <query> attribute) holds 90% of the
    positives; a null attribute 'polite' is spread evenly and predicts nothing."""
    rng = np.random.default_rng(3)
    meta, positives = [], set()
    for i in range(n):
        chunk = ("tagged", "plain", "meta")[i % 3]
        attrs = (("<query>",) if chunk == "tagged" else ()) + (("polite",) if rng.random() < 0.5 else ())
        meta.append(RowMeta(i, chunk, f"cluster {i % 5}", attrs))
        if rng.random() < (0.6 if chunk == "tagged" else 0.035):
            positives.add(i)
    return meta, positives


def test_enrichment_finds_the_planted_group_with_fisher_p_and_bh_q() -> None:
    meta, positives = planted_meta()
    hits = [[m.chunk] for m in meta if m.ordinal in positives]
    groups = enrichment(hits, [[m.chunk] for m in meta], "chunk")
    top = groups[0]
    assert top.group == "tagged" and top.significant and top.odds_ratio_ci[0] > 5
    table = [[top.hits, top.n_hits - top.hits],
             [top.base - top.hits, top.n_all - top.n_hits - top.base + top.hits]]
    assert top.p_value == pytest.approx(fisher_exact(table, alternative="greater")[1])
    assert all(g.q_value >= g.p_value for g in groups)
    assert [g.rank() for g in groups] == sorted(g.rank() for g in groups)
    assert not any(g.significant for g in groups[1:])  # depleted chunks are not "enriched"


def test_trace_names_the_chunk_and_the_trigger_and_ignores_the_null() -> None:
    meta, positives = planted_meta()
    result = trace(meta, positives, dataset="d", behaviour="emoji", method="scorer")
    assert result.top_chunk == "tagged" and result.trigger == "attribute: <query>"
    polite = next(g for g in result.attributes if g.group == "polite")
    assert not polite.significant
    assert "[<query>]" in result.statement and "Chunk 'tagged'" in result.statement
    assert result.positives == len(positives) and result.exemplars == []
    share = result.positive_share
    assert share["ci_low"] < len(positives) / len(meta) < share["ci_high"]  # type: ignore[operator]
    query = trace(meta, positives, dataset="d", behaviour="emoji", method="scorer",
                  query_features={"cluster 2"})  # prefer the failing prompt's own features…
    assert query.trigger == "attribute: <query>"  # …only among significant ones


def test_trace_without_any_signal_says_so() -> None:
    meta = [RowMeta(i, ("a", "b")[i % 2], "c", ()) for i in range(200)]
    result = trace(meta, {i for i in range(0, 200, 10)} | {i for i in range(1, 200, 10)},
                   dataset="d", behaviour="terse", method="neighbours")
    assert result.top_chunk is None and result.trigger is None
    assert result.statement.startswith("No prompt feature")


def test_exact_index_finds_each_vector_first_and_survives_a_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((500, 32)).astype("float32")
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = VectorIndex.create(32, len(vecs))
    index.add(vecs, np.arange(500, 1000, dtype="int64"))  # ids are row ordinals, not positions
    index.add(vecs[:10], np.arange(500, 510, dtype="int64"))  # re-adding an id adds nothing
    assert index.size == 500 and index.kind == "IndexFlatIP"
    scores, ids = index.search(vecs[:20], 3)
    assert ids[:, 0].tolist() == list(range(500, 520)) and np.allclose(scores[:, 0], 1, atol=1e-5)
    index.save(tmp_path / "i.faiss")
    again = VectorIndex.load(tmp_path / "i.faiss")
    assert np.allclose(again.vectors(np.array([700])), vecs[200:201])


def test_kmeans_separates_well_separated_clusters() -> None:
    rng = np.random.default_rng(1)
    centres = np.eye(8, dtype="float32")[:3]
    vecs = np.concatenate([c + 0.05 * rng.standard_normal((100, 8)).astype("float32") for c in centres])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    _, assign = kmeans(vecs, 3)
    assert all(len(set(assign[i * 100:(i + 1) * 100].tolist())) == 1 for i in range(3))
    assert len(set(assign.tolist())) == 3


def test_cluster_labels_are_the_distinctive_terms() -> None:
    names = ClusterTerms()
    for i in range(30):
        names.add(f"<query>Why is the sky blue today {i}?</query>", 0)
        names.add(f"How do vaccines train the immune system {i}?", 1)
    labels = names.labels()
    assert "<query>" in labels[0]  # the tag is a term of its own, as distinctive as any word
    assert set(labels[0].split(" · ")) <= {"<query>", "query", "sky", "blue", "today"}
    assert set(labels[1].split(" · ")) <= {"vaccines", "train", "immune", "system"}


def test_group_codes_count_like_the_rows_and_survive_a_round_trip(tmp_path: Path) -> None:
    meta, positives = planted_meta()
    codes = GroupCodes.build(reversed(meta))  # any order in; sorted by ordinal inside
    codes.save(tmp_path / "groups.npz")
    loaded = GroupCodes.load(tmp_path / "groups.npz")
    for c in (codes, loaded):
        by_codes = trace(c, positives, dataset="d", behaviour="b", method="scorer")
        by_rows = trace(meta, positives, dataset="d", behaviour="b", method="scorer")
        assert by_codes.model_dump() == by_rows.model_dump()
        assert c.ordinals_in("chunk", "tagged", positives) == sorted(
            m.ordinal for m in meta if m.ordinal in positives and m.chunk == "tagged")
        assert c.ordinals_in("attribute", "<query>", [0, 3, 1, 10_000]) == [0, 3]  # unknown dropped
    same_label = GroupCodes.build([RowMeta(0, "a", "sky · blue", ()), RowMeta(1, "a", "sky · blue", ())])
    assert same_label.families["cluster"].names == ["sky · blue"]  # one group per name


def test_vectorised_enrichment_equals_the_scalar_statistics() -> None:
    """One call per family must give what scipy's fisher_exact, statsmodels' Table2x2 (with the
    Haldane +0.5 on an empty cell) and the Wilson interval give group by group."""
    from statsmodels.stats.contingency_tables import Table2x2

    from app.core.stats.rates import wilson
    from app.core.turf.enrichment import enrichment_counts

    names, hits, base = ["a", "b", "c", "d"], [30, 0, 12, 5], [100, 40, 12, 300]
    n_hit, n_all = 47, 452
    for g in enrichment_counts(names, hits, base, n_hit, n_all, "chunk"):
        h, b = g.hits, g.base
        table = np.array([[h, n_hit - h], [b - h, n_all - n_hit - b + h]], dtype=float)
        t = Table2x2(table + (0.5 if (table == 0).any() else 0.0))
        assert g.p_value == pytest.approx(fisher_exact(table, alternative="greater")[1], rel=1e-9)
        assert g.odds_ratio == pytest.approx(t.oddsratio, rel=1e-9)
        assert g.odds_ratio_ci == pytest.approx(list(t.oddsratio_confint(alpha=0.05)), rel=1e-9)
        hit, all_ = wilson(h, n_hit), wilson(b, n_all)
        assert g.hit_share_ci == pytest.approx([hit.ci_low, hit.ci_high])
        assert g.base_share_ci == pytest.approx([all_.ci_low, all_.ci_high])
    assert enrichment_counts(names, [0] * 4, base, 0, n_all, "chunk")[0].hit_share is None


def test_the_attribute_log_survives_a_line_torn_by_a_kill(tmp_path: Path) -> None:
    """A row whose line was cut mid-write is asked again; the rows around it are kept."""
    from app.core.turf.attribute_index import AttributeLog
    from app.core.turf.extraction import RowAttributes

    log = AttributeLog(tmp_path)
    log.append([RowAttributes(1, ["The query is short"], ["The response is long"], 1)])
    with log.path.open("a", encoding="utf-8") as f:
        f.write('{"o": 2, "q": ["The query')  # the kill
    log.append([RowAttributes(3, ["The query is short"], ["The response is long"], 2)])
    assert sorted(log.read()) == [1, 3] and log.read()[3].calls == 2
