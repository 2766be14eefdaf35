"""Aggregates and domain events. Imports only the standard library and eventsourcing.domain."""
