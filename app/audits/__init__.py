"""Audits: use cases (what the API and CLI call), tasks (what a worker runs: sampling, chunks,
analysis in its own process), series of checkpoints. SQL in app/db/repositories/audits.py."""
