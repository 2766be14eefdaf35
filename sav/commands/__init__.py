"""Command models and handlers: the only way state changes."""
