"""TURF: datasets, their attributes and traces; use cases and the tasks that ingest, describe and
trace. SQL in app/db/repositories/{datasets,traces}.py."""
