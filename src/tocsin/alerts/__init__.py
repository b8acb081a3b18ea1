"""Alert ingestion: integrations, received events with their outcome, alerts, grouping."""
