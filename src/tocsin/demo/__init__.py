"""The demo organisation `make run` seeds once."""
