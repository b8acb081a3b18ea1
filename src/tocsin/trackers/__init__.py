"""Issue trackers: follow-ups created in, or linked to, Jira, GitHub Issues, GitLab and Linear,
with the issue's state flowing back (docs/follow-ups.md, "Issue trackers")."""
