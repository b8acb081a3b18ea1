"""Postmortems: learning from an incident once it is over."""
