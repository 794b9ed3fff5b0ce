"""The test gate: find and run each service's tests, bounded in time, and read their JUnit reports."""
