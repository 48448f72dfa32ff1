"""remediation domain."""
