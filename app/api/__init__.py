"""Thin HTTP transport: parse, call a service, return."""
