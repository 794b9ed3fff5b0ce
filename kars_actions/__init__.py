"""kars_actions: release, validate, deploy to Railway, verify health, roll back."""

__version__ = "0.1.0"
