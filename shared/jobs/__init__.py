"""The tunewire job: its identity, its states and the one table of allowed transitions."""
