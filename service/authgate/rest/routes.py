"""The operations of the OpenAPI document by method and path, templated paths included."""

from __future__ import annotations

import re


class OperationNames:
    """Which operation a request is, by method and path (the path's first operation for a
    method it does not serve); ("other", "(other)") for any other path, so that a scan of
    random URLs cannot blow up the metrics' label sets. A templated path (`{id}`) is named
    by its template, never by the id in it."""

    def __init__(self, operations: dict[str, dict[str, str]]) -> None:
        self.literal = {p: names for p, names in operations.items() if "{" not in p}
        self.templated = [
            (re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(p)) + "$"), p, names)
            for p, names in operations.items()
            if "{" in p
        ]

    def of(self, method: str, path: str) -> tuple[str, str]:
        """(operation name, path as logged)."""
        found = self._find(path)
        if found is None:
            return "other", "(other)"
        template, names = found
        return names.get(method.lower(), next(iter(names.values()))), template

    def allow(self, path: str) -> str | None:
        """RFC 9110 §10.2.1's Allow for a known path: every method it serves (HEAD with GET)."""
        found = self._find(path)
        if found is None:
            return None
        methods = {verb.upper() for verb in found[1]}
        if "GET" in methods:
            methods.add("HEAD")
        return ", ".join(sorted(methods))

    def _find(self, path: str) -> tuple[str, dict[str, str]] | None:
        names = self.literal.get(path)
        if names is not None:
            return path, names
        for pattern, template, names in self.templated:
            if pattern.match(path):
                return template, names
        return None
