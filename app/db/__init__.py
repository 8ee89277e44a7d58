"""Persistence: tables, engine/session and repositories (all SQL lives here)."""
