"""model room (see ARCHITECTURE.md)."""
