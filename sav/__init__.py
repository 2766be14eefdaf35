"""SAV: event-sourced customer-support ticket service."""

__version__ = "0.1.0"
