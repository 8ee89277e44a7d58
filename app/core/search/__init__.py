"""SURF's adaptive search: find attributes of queries that elicit a behaviour, then confirm them."""
