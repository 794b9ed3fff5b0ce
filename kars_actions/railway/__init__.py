"""Railway through its API: the GraphQL client (api), deploy/wait/rollback (deploy, wait, stream, steps), the watch
window's data (metrics), volume backups (backup), and the service settings read and applied through
EnvironmentConfig (environment_config, settings_report) from the plan that kars_actions.railway_config makes."""
