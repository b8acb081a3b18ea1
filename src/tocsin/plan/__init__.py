"""The organisation's incident response plan, rendered from live configuration."""
