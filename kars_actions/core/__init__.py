"""What every domain uses: errors and exit codes, the Actions runtime (outputs, summary, masks, redaction),
reporters, timing (clock, deadlines), and kars.yml loading. Imports nothing else of the package."""
