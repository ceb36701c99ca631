"""One module per CLI verb, each with main(argv) -> int.

Only these modules and cli.py import across all rooms."""
