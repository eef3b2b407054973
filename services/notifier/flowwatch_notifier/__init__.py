"""Flowwatch notifier: delivers alerts (and escalations) to webhooks, group bots and e-mail (issue 15)."""
