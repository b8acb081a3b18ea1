"""Outbound event webhooks: signed JSON about incidents to subscribed URLs."""
