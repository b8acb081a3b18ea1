"""A dry run of paging: who would be paged, when and how, for an incident not declared."""
