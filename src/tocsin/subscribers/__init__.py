"""Subscribers of status pages: email (double opt-in) and Statuspage-compatible webhooks."""
