"""Use cases over the repositories and the core; no FastAPI here, and no commits."""
