"""correlation domain."""
