"""realtime domain."""
