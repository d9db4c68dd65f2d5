"""Write the OpenAPI document as client generators should see it: operationIds without the
Connexion handler module, so generated functions are `issue_token`, not
`authgate_rest_handlers_issue_token`; and without the proto-name spellings of query parameters
(`x-alias-of`), which a generator would turn into a second argument of the same name.

Usage: python clients/openapi_for_clients.py openapi/authgate.yaml build/clients/openapi.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def for_clients(spec: dict) -> dict:
    """A copy of `spec` whose operationIds are the handler names Connexion resolves them to,
    with one spelling of each query parameter."""
    spec = json.loads(json.dumps(spec))
    for path_item in spec.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in HTTP_METHODS:
                continue
            if "operationId" in operation:
                operation["operationId"] = operation["operationId"].rsplit(".", 1)[-1]
            if "parameters" in operation:
                operation["parameters"] = [
                    p for p in operation["parameters"] if "x-alias-of" not in p
                ]
    return spec


def main() -> None:
    source, target = (Path(arg) for arg in sys.argv[1:3])
    spec = yaml.safe_load(source.read_text())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(for_clients(spec), indent=2) + "\n")


if __name__ == "__main__":
    main()
