"""Rebuilding the read model from position 0: shadow tables, the atomic switch, the check."""
