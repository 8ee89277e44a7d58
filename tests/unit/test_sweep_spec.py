"""Sweep files: what each point's organism is, which organisms sweeps share, and errors that
name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.organisms.spec import OrganismSpec
from app.core.organisms.sweep import SweepFileError, load_sweep, spec_key

SWEEPS = Path(__file__).resolve().parents[2] / "app" / "data" / "organism-sweeps"


def rates(spec: OrganismSpec, chunk: str) -> list[tuple[str, str, float]]:
    return [(t.feature, t.level, t.rate) for t in spec.chunks[chunk].triggers]


def test_presence_and_dilution_points() -> None:
    presence = load_sweep(SWEEPS / "presence.yaml")
    assert presence.points() == [(v, s) for s in (0, 1) for v in (0.0, 0.33, 0.67, 1.0)]
    v = presence.variant(0.33, 1)
    assert rates(v, "emoji") == [("tag_format", "tagged", 0.33)] and rates(v, "plain") == []
    assert v.seed == presence.organism.seed + 1 and v.chunks["emoji"].behaviours == {"emoji": 0.9}
    dilution = load_sweep(SWEEPS / "dilution.yaml")
    d = dilution.variant(0.67, 0)
    assert rates(d, "emoji") == [("tag_format", "tagged", 1.0)]
    assert rates(d, "plain") == [("tag_format", "tagged", 0.67)]
    # the quick sweep's organisms are the full sweep's seed 0: built once, shared through the cache
    quick = load_sweep(SWEEPS / "presence-quick.yaml")
    assert {spec_key(quick.variant(x, 0)) for x, _ in quick.points()} == \
        {spec_key(presence.variant(x, 0)) for x, _ in quick.points()}
    assert spec_key(presence.variant(0.33, 0)) != spec_key(presence.variant(0.33, 1))
    assert quick.probe_feature() == "format"


@pytest.mark.parametrize(("body", "expected"), [
    ("sweep: {axis: presence, chunk: nope, feature: tag_format, level: tagged, behaviour: emoji, "
     "values: [0, 1]}", ":5: sweep.chunk: Value error, sweep.chunk 'nope' is not one of the organism"),
    ("sweep: {axis: presence, chunk: emoji, feature: tag_format, level: tagged, behaviour: emoji, "
     "values: [0, 2]}", ":5: sweep.values: Value error, values are shares"),
    ("sweep: {axis: sideways, chunk: emoji, feature: tag_format, level: tagged, behaviour: emoji, "
     "values: [0, 1]}", ":5: sweep.axis: Input should be 'presence' or 'dilution'"),
    ("sweep: {axis: presence, chunk: emoji, feature: tag_format, level: tagged, behaviour: signoff, "
     "values: [0, 1]}", ":5: sweep.behaviour: Value error, sweep.behaviour 'signoff' is not a behaviour"),
])
def test_errors_name_the_file_and_line(tmp_path: Path, body: str, expected: str) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(f"name: s\norganism: emoji-tags\nprobe: {SWEEPS.parent / 'specs' / 'emoji-tags.yaml'}\n"
                 f"answers: template\n{body}\n")
    with pytest.raises(SweepFileError) as err:
        load_sweep(f)
    assert str(err.value).startswith(str(f) + expected), str(err.value)


def test_a_bad_probe_file_is_named_with_its_own_line(tmp_path: Path) -> None:
    probe = tmp_path / "probe.yaml"
    probe.write_text("name: p\nprompts: [a, b, c]\nfeatures: {format: {builtin: nope}}\n"
                     "behaviours: {emoji: {builtin: emoji}}\n")
    f = tmp_path / "s.yaml"
    f.write_text("name: s\norganism: emoji-tags\nprobe: probe.yaml\nsweep: {}\n")
    with pytest.raises(SweepFileError, match=rf"^{probe}:3: features.format"):
        load_sweep(f)
    f.write_text("name: s\norganism: emoji-tags\nprobe: missing.yaml\n")
    with pytest.raises(SweepFileError, match=rf"^{f}:3: probe: 'missing.yaml' is not a file"):
        load_sweep(f)


def test_salience_specs_pairs_and_probes() -> None:
    import yaml

    from app.core.organisms.salience import SalienceSpec

    doc = yaml.safe_load((SWEEPS.parent / "organism-salience" / "four-features.yaml").read_text())
    spec = SalienceSpec.model_validate(doc)
    pairs = spec.pairs()
    assert len(pairs) == 6
    holds = {k: sum(spec.behaviour_of(p, k) == "formal" for p in pairs if k in p[:2]) for k in range(4)}
    assert sorted(holds.values()) == [1, 1, 2, 2]  # each feature holds each behaviour 1-2 times of 3
    organism = spec.organism(pairs[0])
    assert set(organism.chunks) == {"tag_format", "assistant_role", "plain"}
    assert organism.chunks["plain"].triggers == [] and organism.chunks["plain"].behaviours == {}
    probe = spec.probe(pairs[0])
    assert {n: f.level_names() for n, f in probe.features.items()} == {
        "tag_format": ["plain", "tagged"], "assistant_role": ["none", "tutor"]}
    assert set(probe.behaviours) == {"formal", "rebuttal"}
    for bad, msg in ((["emoji", "formal"], "does not open the answer"),
                     (["formal", "formal"], "two different")):
        with pytest.raises(ValueError, match=msg):
            SalienceSpec.model_validate({**doc, "behaviours": bad})
    with pytest.raises(ValueError, match="each feature once"):
        SalienceSpec.model_validate({**doc, "features": [*doc["features"], {"feature": "tag_format",
                                                                          "level": "tagged"}]})
