"""The `sav` command line: sav/cli/main.py parses and dispatches; operator, privacy and
configuration subcommands live beside it."""
