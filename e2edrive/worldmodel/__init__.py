"""worldmodel room (see ARCHITECTURE.md)."""
