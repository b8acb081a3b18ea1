"""Workflows: when something happens to an incident, do a list of things (docs/workflows.md)."""
