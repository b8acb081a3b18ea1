"""Follow-ups: the action items that must follow an incident, across incidents.

The list by team, service, tag and age, with the postmortem each came from; reminders to
their owners around the due date; and the weekly digest of a team's overdue follow-ups.
Items themselves belong to the incidents domain (incidents/actions.py); this package reads
them and sends mail about them, and changes none."""
