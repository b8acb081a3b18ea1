"""Response targets tracked live: each incident's due time for its first response, the
reminder before it and the breach when it passes (docs/response-targets.md)."""
