"""Contact methods, personal notification rules, channels and delivery of pages."""
