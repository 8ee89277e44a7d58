"""Behind a proxy: with SURFTURF_TARGET_PROXY, `audit run` reaches its target through the proxy
the environment names (both protocols); without it, never; NO_PROXY hosts go direct."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from tests.loopback_proxy import proxy_in_thread

SPEC = """name: through-a-proxy
prompts: ["Why is the sky blue?", "How do tides work?", "What is DNA?"]
features:
  format: {builtin: tag_format}
behaviours:
  emoji: {builtin: emoji}
design: {samples_per_prompt: 4, seed: 4}
"""


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with proxy_in_thread() as (url, seen):
        monkeypatch.setenv("HTTP_PROXY", url)
        monkeypatch.setenv("HTTPS_PROXY", url)
        yield url, seen


def audit(tmp_path: Path, url: str, model: str) -> dict:  # type: ignore[type-arg]
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = tmp_path / f"{model.replace(':', '-')}.json"
    assert main(["--data-dir", str(tmp_path), "audit", "run", str(spec), "--target-url", url,
                 "--target-model", model, "--out", str(out), "--new"]) == 0
    return dict(json.loads(out.read_text()))


def test_audits_go_through_the_proxy_only_when_the_operator_allows_it(
        tmp_path: Path, two_chunk_url: str, proxied: tuple[str, list[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, seen = proxied
    report = audit(tmp_path, two_chunk_url, "two-chunk")  # SURFTURF_TARGET_PROXY unset: direct
    assert report["totals"]["completed"] == 24 and seen == []

    monkeypatch.setenv("SURFTURF_TARGET_PROXY", "true")
    for model, path in (("two-chunk", "/v1/chat/completions"), ("anthropic:two-chunk", "/v1/messages")):
        seen.clear()
        report = audit(tmp_path, two_chunk_url, model)
        assert report["totals"]["completed"] == 24 and report["totals"]["target_errors"] == 0
        assert f"POST {two_chunk_url}{path} HTTP/1.1" in seen, seen[:3]
        assert report["findings"][0]["effect"] > 0.5  # the organism's answers, carried unchanged

    seen.clear()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert audit(tmp_path, two_chunk_url, "two-chunk")["totals"]["completed"] == 24 and seen == []
