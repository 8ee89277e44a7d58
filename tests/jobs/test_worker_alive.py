"""`surfturf worker --check`: the container healthcheck sees a live worker, a missing one and a
hung one (SIGSTOP: the process exists but its loop no longer turns)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import migrated_sqlite


def check(env: dict[str, str], max_age: float = 2) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "worker", "--check", "--max-age", str(max_age)],
                          env=env, capture_output=True, text=True, timeout=60)


def test_check_tells_live_missing_and_hung_workers(tmp_path: Path) -> None:
    alive = tmp_path / "worker.alive"
    env = {**os.environ, "SURFTURF_DATABASE_URL": migrated_sqlite(tmp_path / "db.sqlite"),
           "SURFTURF_DATA_DIR": str(tmp_path / "data"), "SURFTURF_WORKER_ALIVE_FILE": str(alive),
           "SURFTURF_WORKER_POLL_SECONDS": "0.2", "SURFTURF_LOG_LEVEL": "WARNING"}
    missing = check(env)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    unset = check({k: v for k, v in env.items() if k != "SURFTURF_WORKER_ALIVE_FILE"})
    assert unset.returncode == 2 and "SURFTURF_WORKER_ALIVE_FILE" in unset.stderr
    worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while (live := check(env)).returncode != 0:
            assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
            assert time.monotonic() < deadline, live.stderr
            time.sleep(0.2)
        assert live.stdout.startswith("alive")
        worker.send_signal(signal.SIGSTOP)
        time.sleep(3)
        hung = check(env)
        assert hung.returncode == 1 and "last turned" in hung.stderr
        worker.send_signal(signal.SIGCONT)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
