"""Release alerts: Slack, Discord and a signed webhook, built from data and never raising."""
