"""The vocabulary a new Tocsin starts with, from the incident response seed documents."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class RoleSpec(TypedDict):
    slug: str
    name: str
    description: str
    responsibilities: str  # one per line
    # Several holders on one incident: PagerDuty's pages give the IC one person and SMEs
    # several; its IC training allows "one or more Deputies"; larger incidents need scribes.
    multiple: NotRequired[bool]


class IncidentTypeSpec(TypedDict):
    name: str
    description: str
    default_severity: str  # a severity's name
    default_restricted: NotRequired[bool]
    roles_to_fill: list[str]  # roles' slugs
    fields: list[dict[str, object]]  # as create_incident_type takes them


SEVERITIES = [
    {
        "name": "SEV1",
        "default_urgency": "high",
        "label": "Critical",
        "rank": 1,
        "response_target_minutes": 60,
        "color": "#b91c1c",
        "description": "Complete outage affecting all users.",
    },
    {
        "name": "SEV2",
        "default_urgency": "high",
        "label": "Major",
        "rank": 2,
        "response_target_minutes": 240,
        "color": "#c2410c",
        "description": "Core feature unavailable for a subset of users.",
    },
    {
        "name": "SEV3",
        "default_urgency": "high",
        "label": "Moderate",
        "rank": 3,
        "response_target_minutes": 1440,
        "color": "#a16207",
        "description": "Non-critical feature degraded; a workaround is available.",
    },
    {
        "name": "SEV4",
        "default_urgency": "low",
        "label": "Low",
        "rank": 4,
        "response_target_minutes": None,
        "response_next_business_day": True,
        "color": "#4d7c0f",
        "description": "Minor issue affecting a few users.",
    },
]

PRIORITIES = [
    {"name": "P1", "rank": 1, "description": "Work on it now, ahead of everything else."},
    {"name": "P2", "rank": 2, "description": "Work on it today."},
    {"name": "P3", "rank": 3, "description": "Work on it this week."},
    {"name": "P4", "rank": 4, "description": "Work on it when time allows."},
]

ROLES: list[RoleSpec] = [
    {
        "slug": "incident_commander",
        "name": "Incident Commander",
        "description": "Also called Major Incident Manager (MIM). Runs the response and decides.",
        "responsibilities": "Assess the severity (service and customer impact)\n"
        "Escalate to the appropriate people on call\n"
        "Track changes, decisions and fixes, and confirm the final fix\n"
        "Hold the post-incident review meeting\n"
        "Decide whether a public postmortem is needed",
    },
    {
        "slug": "deputy",
        "multiple": True,
        "name": "Deputy",
        "description": "Backs up the Incident Commander and takes over if needed.",
        "responsibilities": "Keep the commander focused on decisions\n"
        "Chase owners of actions and report back\n"
        "Take command if the commander has to hand over",
    },
    {
        "slug": "scribe",
        "multiple": True,
        "name": "Scribe",
        "description": "Keeps the timeline so nobody has to remember later.",
        "responsibilities": "Record decisions, actions and findings on the timeline\n"
        "Flag key events for the postmortem\n"
        "Note who owns each action item",
    },
    {
        "slug": "comms_internal",
        "name": "Communications Manager (internal)",
        "description": "Keeps the rest of the organisation informed.",
        "responsibilities": "Choose the internal channels for this incident\n"
        "Send internal updates early and often\n"
        "Answer stakeholders so responders can keep working",
    },
    {
        "slug": "comms_external",
        "name": "Communications Manager (external)",
        "description": "Speaks to customers and the public.",
        "responsibilities": "Draft external communications and status page updates\n"
        "Send updates early and often for the whole incident\n"
        "Write the public postmortem where one is needed",
    },
    {
        "slug": "support_lead",
        "name": "Customer Support Lead",
        "description": "Handles what customers send in while the incident runs.",
        "responsibilities": "Handle incoming tickets, emails and calls\n"
        "Work with product, engineering and marketing on accurate, "
        "consistent messages",
    },
    {
        "slug": "social_media_lead",
        "name": "Social Media Lead",
        "description": "Watches and answers on social media.",
        "responsibilities": "Field questions on social media alongside the support team\n"
        "Share the approved external updates",
    },
    {
        "slug": "sme",
        "multiple": True,
        "name": "Subject Matter Expert",
        "description": "Knows the affected system and works on the fix.",
        "responsibilities": "Diagnose the problem in their area\n"
        "Propose and carry out fixes the commander approves\n"
        "Report findings and progress to the commander",
    },
]

TEMPLATES = {
    "investigating": (
        "We are investigating reports of problems affecting {services}. "
        "Some users may see errors or slow responses. We will post another update by "
        "{next_update}."
    ),
    "identified": (
        "We have identified the cause of the problems affecting {services} and are working "
        "on a fix. Next update by {next_update}."
    ),
    "monitoring": (
        "A fix for the problems affecting {services} is in place and we are monitoring the "
        "results. Next update by {next_update}."
    ),
    "resolved": (
        "The problems affecting {services} have been resolved and everything is working "
        "normally. Thank you for your patience."
    ),
}

INCIDENT_TYPES: list[IncidentTypeSpec] = [
    {
        "name": "Service outage",
        "description": "A service is down or badly degraded for users.",
        "default_severity": "SEV2",
        "roles_to_fill": ["incident_commander", "comms_external", "sme"],
        "fields": [
            {
                "key": "detection_source",
                "label": "How was it detected?",
                "kind": "single_select",
                "options": ["Monitoring alert", "Customer report", "Internal report", "Other"],
            },
            {
                "key": "regions",
                "label": "Affected regions",
                "kind": "multi_select",
                "options": ["EU", "US", "APAC"],
            },
            {"key": "error_rate", "label": "Peak error rate (%)", "kind": "number"},
        ],
    },
    {
        "name": "Security incident",
        "description": "Suspected or confirmed breach, exploitation or data exposure.",
        "default_severity": "SEV1",
        "default_restricted": True,
        "roles_to_fill": ["incident_commander", "scribe", "comms_internal"],
        "fields": [
            {"key": "attack_vector", "label": "Attack vector", "kind": "text"},
            {"key": "data_exposed", "label": "Customer data exposed?", "kind": "boolean"},
            {"key": "security_lead", "label": "Security lead", "kind": "user", "required": True},
        ],
    },
    {
        "name": "Data loss",
        "description": "Data deleted, corrupted or unrecoverable.",
        "default_severity": "SEV1",
        "roles_to_fill": ["incident_commander", "comms_external", "support_lead"],
        "fields": [
            {"key": "records_affected", "label": "Records affected", "kind": "number"},
            {"key": "backup_available", "label": "Backup available?", "kind": "boolean"},
            {"key": "recovery_runbook", "label": "Recovery runbook", "kind": "url"},
        ],
    },
]
