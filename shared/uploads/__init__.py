"""Uploads: the storage notification that starts everything, and the settings an upload carries."""
