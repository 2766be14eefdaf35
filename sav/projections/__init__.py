"""Read models: tables, projectors (event handlers) and query functions."""
