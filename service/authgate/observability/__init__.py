"""Telemetry both doors and the core share: metrics, logging set-up, the access-log record."""
