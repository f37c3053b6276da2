"""Dashboard: the read model of the announced figures, fed only by events."""
