"""The organisation's roster of incident roles, the emails telling people they hold a role,
and paging the incident commander's primary and backup."""
