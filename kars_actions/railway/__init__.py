"""Railway: the GraphQL client (api), deploy/wait/rollback (deploy, steps), railway.json/toml validation (config,
hints, cron, positions, schema_fast), and the service settings kars keeps in force after Config-as-Code."""
