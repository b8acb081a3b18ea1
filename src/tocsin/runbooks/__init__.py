"""Runbooks: versioned Markdown checklists attached to incidents, and who ticked each step."""
