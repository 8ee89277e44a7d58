"""SURF's adaptive search: use cases and the search.run task. SQL in app/db/repositories/searches.py."""
