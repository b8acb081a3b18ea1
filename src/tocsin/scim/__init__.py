"""SCIM 2.0 provisioning (RFC 7643/7644): identity providers create, update and deprovision
people (catalog users) and teams (SCIM Groups) through /scim/v2."""
