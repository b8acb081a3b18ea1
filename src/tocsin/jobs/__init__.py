"""Durable background jobs: written in the caller's transaction, run after commit."""
