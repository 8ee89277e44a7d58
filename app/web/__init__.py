"""/ui: a small server-rendered web UI (no Node build, no script) over the same services."""
