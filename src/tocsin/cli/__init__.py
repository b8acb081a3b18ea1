"""The `tocsin` command: server administration and incident commands over the REST API."""
