"""Escalation policies and the engine that walks them: who gets paged, when, and why."""
