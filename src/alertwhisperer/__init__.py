"""Alert Whisperer: alert-to-resolution platform for managed service providers."""

__version__ = "0.1.0"
