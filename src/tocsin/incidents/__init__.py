"""Incidents: lifecycle, roles, timeline, status updates and action items."""
