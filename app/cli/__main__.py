"""`python -m app.cli`: the same entry point as the `surfturf` script."""

from app.cli import run

run()
