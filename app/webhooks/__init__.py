"""Webhooks: subscriptions, the events the other domains emit, and delivery (a task)."""
