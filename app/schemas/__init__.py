"""The API contract, one module per resource, separate from tables."""
