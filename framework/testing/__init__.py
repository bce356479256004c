"""Conformance suite (under construction)."""
