"""Insights: how the incident practice is doing, read from what the other domains store.

KPIs (MTTD, MTTA, MTTR, volume) and response-target attainment, on-call load, alert noise
and learning health, for a period and a team, service, severity or type. Every figure is
computed from the rows behind it when it is asked for (exact; see docs/insights.md), shown
as server-rendered SVG with the same numbers in a table, exported as CSV and served as JSON
under /api/v1/insights. This domain only reads.
"""
