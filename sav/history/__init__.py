"""Readers of the event log: a ticket's history, time travel, the global feed and export."""
