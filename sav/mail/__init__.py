"""The e-mail channel (issue 24, docs/decisions/0190-email.md): inbound mail opens and
continues tickets, the team's public answers go out by mail."""
