"""`python -m workers [--concurrency N] [--grace S] [--check]`: `surfturf worker`'s process."""

from __future__ import annotations

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main(["worker", *sys.argv[1:]]))
