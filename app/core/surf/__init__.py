"""SURF: probe specs, factorial execution and analysis into findings."""
