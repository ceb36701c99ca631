"""e2edrive: an end-to-end driving stack — 8 cameras in, steering and acceleration out."""

__version__ = "0.1.0"
