"""surfturf: surface chunky post-training shortcuts (SURF) and trace them to data (TURF)."""

__version__ = "0.1.0"
