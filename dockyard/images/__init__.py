"""The pull path."""
