"""Stakeholder communication: followers and stakeholders, the channel registry, status
updates sent to people and channels, and reminders when an update is due."""
