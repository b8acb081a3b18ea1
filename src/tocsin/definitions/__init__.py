"""Configurable vocabulary: severities, priorities, incident types and fields, roles, templates."""
