"""Run an ASGI app under uvicorn in a background thread (demo target, tests, benches)."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int | None = None,
                    **config: Any) -> Iterator[str]:
    """Yields the base URL once the server accepts connections; stops it on exit."""
    port = port or free_port(host)
    cfg = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", **config)
    server = uvicorn.Server(cfg)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"server on {host}:{port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def serve_foreground(app: Any, host: str, port: int, banner: str) -> None:
    """Serve until Ctrl-C or SIGTERM; `banner` (with {url}) is printed only once the port
    accepts, so a script that waits for it can connect at once."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with serve_in_thread(app, host, port) as url:
        print(banner.format(url=url), flush=True)  # noqa: T201 - the command's own output
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


def wait_until_serving(url: str, proc: subprocess.Popen[bytes], timeout: float = 1800) -> bool:
    """Poll `url` until it answers 200 (True) or the process exits or time runs out (False)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False
