"""Shared web plumbing: templates, CSRF, error pages and JSON errors."""
