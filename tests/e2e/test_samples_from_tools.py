"""Samples from inspect_ai and promptfoo, made by the real tools against a loopback target, read
by `audit analyze --from inspect | promptfoo` into the same findings as surfturf's own export of
the same samples. The target answers as a function of the messages alone, so the three tools,
sending the same messages, get the same responses."""

from __future__ import annotations

import json
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli import main
from app.openai_server import Reply, Sampling, create_openai_app
from app.serving import serve_in_thread
from tests import other_tools

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SPEC = {"name": "tools",
        "prompts": ["Why is the sky blue?", "How do tides work?", "What is DNA?", "How do bees fly?"],
        "features": {"format": {"builtin": "tag_format"}, "metadata": {"builtin": "metadata"}},
        "behaviours": {"emoji": {"builtin": "emoji"}, "signoff": {"regex": "(?i)best regards"}},
        "design": {"samples_per_prompt": 3, "seed": 2}}
SIGNOFF_SCORER = '''
import json, re
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.scorer import CORRECT, INCORRECT, Score, accuracy, scorer
from inspect_ai.solver import generate

ROLES = {"system": ChatMessageSystem, "user": ChatMessageUser}

@scorer(metrics=[accuracy()], name="signoff")
def signoff():
    async def score(state, target):
        hit = re.search("(?i)best regards", state.output.completion)
        return Score(value=CORRECT if hit else INCORRECT)
    return score

@task
def replay():
    samples = []
    for line in open(%(path)r, encoding="utf-8"):
        s = json.loads(line)
        samples.append(Sample(input=[ROLES[m["role"]](content=m["content"]) for m in s["messages"]],
                              metadata={"prompt_index": s["prompt_index"], "levels": s["levels"],
                                        "sample_index": s["sample_index"]}))
    return Task(dataset=samples, solver=generate(), scorer=signoff())
'''


async def respond(messages: list[dict[str, str]], sampling: Sampling) -> Reply:
    text = "\n".join(m["content"] for m in messages)
    h = zlib.crc32(text.encode()) % 100
    answer = "Here is how it works."
    if h < (80 if "<query>" in text else 10):
        answer += " 🎉"
    if h % 7 < (5 if "Location:" in text else 1):
        answer += "\n\nBest regards"
    return Reply(answer, len(text.split()), len(answer.split()))


def findings(path: Path) -> list[tuple[Any, ...]]:
    doc = json.loads(path.read_text())
    return sorted((f["feature"], f["level"], f["behaviour"], f["effect"], f["ci_adj_low"], f["ci_adj_high"],
                   f["q_value"], f["verdict"]) for f in doc["findings"])


def test_inspect_and_promptfoo_samples_analyse_like_our_own(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    data = ["--data-dir", str(tmp_path / "data")]
    with serve_in_thread(create_openai_app("det", respond, title="deterministic")) as url:
        assert main([*data, "audit", "run", str(spec), "--target-url", url + "/v1", "--target-model", "det",
                     "--out", str(tmp_path / "ours.json")]) == 0
        audit_id = json.loads((tmp_path / "ours.json").read_text())["audit_id"]
        assert main([*data, "audit", "export", audit_id, "--out", str(tmp_path / "ours.jsonl")]) == 0
        exported = [json.loads(x) for x in (tmp_path / "ours.jsonl").read_text().splitlines()]
        assert len(exported) == 48

        # inspect_ai, in-process, with a scorer named after the signoff behaviour
        from inspect_ai import eval as inspect_eval

        (tmp_path / "task.py").write_text(SIGNOFF_SCORER % {"path": str(tmp_path / "ours.jsonl")})
        monkeypatch.chdir(tmp_path)  # inspect resolves a task file relative to the working directory
        logs = inspect_eval("task.py", model="openai/det", model_base_url=url + "/v1",
                            log_dir=str(tmp_path / "inspect-logs"), display="none", max_connections=8,
                            model_args={"api_key": "none", "responses_api": False})
        assert logs[0].status == "success", logs[0].error
        [log_file] = list((tmp_path / "inspect-logs").glob("*.eval"))

        # promptfoo, from the npm registry, one test per sample, an assertion whose metric is signoff
        # (JavaScript regexes: no inline flags); emoji, with no assertion, is scored by the spec
        tests = [{"vars": {"messages": json.dumps(s["messages"]), "prompt_index": s["prompt_index"],
                           "levels": json.dumps(s["levels"]), "sample_index": s["sample_index"]},
                  "assert": [{"type": "regex", "value": "[Bb]est [Rr]egards", "metric": "signoff"}]}
                 for s in exported]
        config = {"prompts": ["{{ messages }}"], "tests": tests,
                  "providers": [{"id": "openai:chat:det",
                                 "config": {"apiBaseUrl": url + "/v1", "apiKey": "none"}}]}
        (tmp_path / "promptfooconfig.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
        run = subprocess.run([*other_tools.promptfoo(), "eval", "-c", str(tmp_path / "promptfooconfig.yaml"),
                              "--no-cache", "--no-progress-bar", "-o", str(tmp_path / "results.json")],
                             env=other_tools.promptfoo_env(tmp_path / "pf-home"), capture_output=True,
                             text=True, timeout=300)
        assert (tmp_path / "results.json").exists(), run.stderr[-2000:]

    for source, path in (("inspect", log_file), ("promptfoo", tmp_path / "results.json")):
        out = tmp_path / f"{source}.json"
        assert main(["audit", "analyze", str(spec), "--samples", str(path), "--from", source,
                     "--out", str(out)]) == 0
        assert findings(out) == findings(tmp_path / "ours.json"), source
    # the tools' own verdicts became the signoff scores; emoji, which neither scored, the spec's
    from app.core.surf.imports import read_samples
    from app.core.surf.spec import ProbeSpec

    probe = ProbeSpec.model_validate(SPEC)
    for source, path in (("inspect", log_file), ("promptfoo", tmp_path / "results.json")):
        got = read_samples(path, probe, source)
        assert len(got) == 48 and all(set(x.scores) == {"signoff"} for x in got), source
    flagged = {(f[0], f[2]) for f in findings(tmp_path / "ours.json") if f[-1] == "miscalibrated"}
    assert ("format", "emoji") in flagged  # the planted rule shows through every tool's samples


def test_what_cannot_be_mapped_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"results": {"results": [
        {"vars": {"prompt_index": 0, "levels": {"format": "plain", "metadata": "none"}},
         "response": {"output": "ok"}, "prompt": {"raw": "hi"}},
        {"vars": {"question": "no placement"}, "response": {"output": "ok"}}]}}))
    assert main(["audit", "analyze", str(spec), "--samples", str(results), "--from", "promptfoo"]) == 2
    assert f"{results} result 2: its vars must carry prompt_index and levels" in capsys.readouterr().err
    results.write_text(json.dumps({"results": {"results": [
        {"vars": {"prompt_index": 0, "levels": {"format": "bold", "metadata": "none"}},
         "response": {"output": "ok"}}]}}))
    assert main(["audit", "analyze", str(spec), "--samples", str(results), "--from", "promptfoo"]) == 2
    assert f"{results} sample:1: levels.format: 'bold' is not a level of format" in capsys.readouterr().err
    assert main(["audit", "analyze", str(spec), "--samples", str(spec), "--from", "inspect"]) == 2
    assert "not an inspect_ai log" in capsys.readouterr().err
