"""Probe spec validation: the error names the field (API) or the file and line (CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.audits.use_cases import parse_spec
from app.core.surf.loader import SpecFileError, load_spec_file
from app.core.surf.spec import ProbeSpec
from app.errors import InvalidInput

GOOD = """\
name: tags-and-metadata
prompts: ["What causes the seasons on Earth?", "How do vaccines work?"]
features:
  format:
    levels: {plain: "{prompt}", tagged: "<query>{prompt}</query>"}
  system_prompt:
    levels: {a: {system: "You are a helpful assistant."}, b: {system: "You are an AI model."}}
  language: {builtin: language, levels: [en, fr]}
behaviours:
  emoji: {builtin: emoji}
  signoff: {regex: "(?i)best regards"}
  rebuttal: {judge: {rubric: rubric.yaml}}
relevant: [[system_prompt, signoff]]
design: {kind: factorial, samples_per_prompt: 2, temperature: 1.0, max_tokens: 256, seed: 7}
alpha: 0.05
min_effect: 0.10
"""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_the_issue_example_loads(tmp_path: Path) -> None:
    write(tmp_path, "principle: Never rebut a true statement.\nscoring_guide: 0 fine, 100 rebuts\n",
          "rubric.yaml")
    spec = load_spec_file(write(tmp_path, GOOD))
    assert spec.work_item_count() == 2 * 2 * 2 * 2 * 2
    assert spec.behaviours["rebuttal"].judge.rubric["principle"].startswith("Never")
    assert spec.needs_auditor()
    assert len(spec.cells()) == 8


@pytest.mark.parametrize(("needle", "replacement", "line", "field"), [
    ("builtin: emoji", "builtin: emojis", 10, "behaviours.emoji"),
    ("samples_per_prompt: 2", "samples_per_prompt: -1", 14, "design.samples_per_prompt"),
    ('tagged: "<query>{prompt}</query>"', 'tagged: "<query></query>"', 5, "features.format"),
    ("levels: [en, fr]", "levels: [en, xx]", 8, "features.language"),
    ("[[system_prompt, signoff]]", "[[system_prompt, signof]]", 1, "(top level)"),
])
def test_errors_name_file_line_and_field(tmp_path: Path, needle: str, replacement: str, line: int,
                                         field: str) -> None:
    write(tmp_path, "principle: p\n", "rubric.yaml")
    path = write(tmp_path, GOOD.replace(needle, replacement))
    with pytest.raises(SpecFileError) as err:
        load_spec_file(path)
    assert str(err.value).startswith(f"{path}:{line}: {field}")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nprompts: [unclosed\nfeatures: {}\n")
    with pytest.raises(SpecFileError, match=r"spec.yaml:\d+: not valid YAML"):
        load_spec_file(path)


def test_missing_rubric_and_prompts_file(tmp_path: Path) -> None:
    with pytest.raises(SpecFileError, match=r"spec.yaml:12: rubric file .* not found"):
        load_spec_file(write(tmp_path, GOOD))
    text = GOOD.replace('prompts: ["What causes the seasons on Earth?", "How do vaccines work?"]',
                        "prompts_file: prompts.jsonl")
    text = text.replace("  rebuttal: {judge: {rubric: rubric.yaml}}\n", "")
    write(tmp_path, json.dumps("What is DNA?") + "\n{broken\n", "prompts.jsonl")
    with pytest.raises(SpecFileError, match=r"prompts.jsonl:2: invalid JSON"):
        load_spec_file(write(tmp_path, text))
    write(tmp_path, json.dumps("What is DNA?") + "\n" + json.dumps({"text": "Why?"}) + "\n",
          "prompts.jsonl")
    assert len(load_spec_file(write(tmp_path, text)).prompts) == 2


def test_api_errors_name_the_field() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_spec({"name": "x", "prompts": [], "features": {}, "behaviours": {}})
    assert err.value.field == "spec.prompts"
    with pytest.raises(InvalidInput) as err:
        parse_spec({"name": "x", "prompts": ["q"], "features": {"f": {"levels": {"a": "{prompt}"}}},
                    "behaviours": {"e": {"builtin": "emoji"}}})
    assert err.value.field == "spec.features.f" and "two levels" in err.value.message
    with pytest.raises(InvalidInput, match="inline"):
        parse_spec({"name": "x", "prompts": ["q"], "features": {"f": {"builtin": "metadata"}},
                    "behaviours": {"j": {"judge": {"rubric": "file.yaml"}}}})


def test_committed_json_schema_is_current() -> None:
    committed = Path(__file__).resolve().parents[2] / "docs" / "probe-spec.schema.json"
    assert json.loads(committed.read_text()) == ProbeSpec.model_json_schema(), (
        "regenerate: surfturf audit schema > docs/probe-spec.schema.json")


def test_sequential_design_rounds() -> None:
    base = {"name": "s", "prompts": ["p"], "behaviours": {"e": {"builtin": "emoji"}},
            "features": {"f": {"levels": {"a": "{prompt}", "b": "x {prompt}"}}}}
    seq = parse_spec({**base, "design": {"kind": "sequential", "samples_per_prompt": 23}})
    assert seq.design.round_size() == 4 and seq.work_item_count() == 2 * 23
    small = parse_spec({**base, "design": {"kind": "sequential", "samples_per_prompt": 3}})
    assert small.design.round_size() == 2
    assert parse_spec({**base, "design": {"samples_per_prompt": 7}}).design.round_size() == 7
    for design, needle in (({"samples_per_round": 2}, "sequential only"),
                           ({"kind": "sequential", "samples_per_prompt": 4, "samples_per_round": 5},
                            "cannot exceed")):
        with pytest.raises(InvalidInput) as err:
            parse_spec({**base, "design": design})
        assert err.value.field == "spec.design" and needle in err.value.message
