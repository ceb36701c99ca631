"""data room (see ARCHITECTURE.md)."""
