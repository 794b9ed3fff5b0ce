"""railway.json / railway.toml: validation with line:column and fixes (config, config_checks, findings, hints, cron,
positions), the repository's settings and their plan against an environment's EnvironmentConfig
(settings), and Railway's Infrastructure as Code written from the same files (iac). Never talks to Railway."""
