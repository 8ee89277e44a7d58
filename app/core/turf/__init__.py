"""TURF: trace a flagged behaviour back to the post-training chunks and prompt features that taught it."""
