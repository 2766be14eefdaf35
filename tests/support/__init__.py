"""Helpers shared by the test suites (servers, builders)."""
