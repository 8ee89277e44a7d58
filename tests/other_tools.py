"""Other eval tools, installed on demand (minutes, once per machine): what the tests that read
their output, and bench/vs_tools.py, run. Not project dependencies."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TOOLS = Path(os.environ.get("SURFTURF_TOOLS_DIR", Path.home() / ".cache" / "surfturf-tools"))


def promptfoo(tools: Path = TOOLS) -> list[str]:
    """The promptfoo command, from the npm registry into tools/promptfoo."""
    pf = tools / "promptfoo"
    exe = pf / "node_modules" / ".bin" / "promptfoo"
    if not exe.exists():
        if shutil.which("npm") is None:
            raise RuntimeError("promptfoo needs Node.js and npm")
        sys.stderr.write(f"installing promptfoo into {pf}\n")
        pf.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "init", "-y"], cwd=pf, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "promptfoo"], cwd=pf, check=True,
                       stdout=subprocess.DEVNULL)
    return [str(exe)]


def inspect_venv(tools: Path = TOOLS) -> list[str]:
    """inspect_ai's command in a venv of its own (for timing it as a separate process)."""
    venv = tools / "venv-inspect"
    if not (venv / "bin" / "inspect").exists():
        sys.stderr.write(f"installing inspect_ai into {venv}\n")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "inspect-ai", "openai"], check=True)
    return [str(venv / "bin" / "inspect")]


def promptfoo_env(home: Path) -> dict[str, str]:
    return {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
            "PROMPTFOO_CONFIG_DIR": str(home), "NO_COLOR": "1"}
