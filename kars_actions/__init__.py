"""kars_actions: release, validate, deploy to Railway, verify health, roll back."""

__version__ = "1.0.0"
