"""Background workers: projector runner, publisher, consumers, scheduler."""
