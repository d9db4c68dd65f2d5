"""The AuthGate client library: callers that keep a token fresh by themselves, and services
that verify AuthGate's tokens locally while honouring revocations as they happen."""

from __future__ import annotations

__version__ = "0.1.0"
