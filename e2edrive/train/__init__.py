"""train room (see ARCHITECTURE.md)."""
