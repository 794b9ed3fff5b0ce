"""The release pipeline: the state machine from preflight to publish or rollback, and its report."""
