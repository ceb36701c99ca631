"""sim room (see ARCHITECTURE.md)."""
