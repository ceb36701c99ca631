"""eval room (see ARCHITECTURE.md)."""
