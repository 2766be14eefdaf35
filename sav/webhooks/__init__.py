"""Outbound webhooks (issue 25, docs/decisions/0120-webhooks.md): subscriptions
(`sav.events.webhook`, read model `subscriptions`), the delivery log and positions
(`deliveries`), Standard Webhooks signatures (`signing`), the SSRF guard (`guard`), the
retry schedule (`schedule`) and the sender, `sav worker webhooks` (`sender`)."""
