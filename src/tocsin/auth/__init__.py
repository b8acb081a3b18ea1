"""Accounts, passwords, browser sessions, CSRF and API tokens."""
