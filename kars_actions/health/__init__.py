"""Health checks: one bounded HTTP request, assertions on it, which targets to check, concurrent polling, the report."""
