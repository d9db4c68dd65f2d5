"""AuthGate: one authentication core behind a gRPC door and a REST door."""

__version__ = "0.1.0"
