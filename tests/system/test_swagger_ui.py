"""Swagger UI renders every operation in a real browser, from local assets alone.

Headless Chromium (Debian's `chromium`; `make test` installs it) loads /api/v1/ui/ from the
live server with every other host made unresolvable, dumps the rendered DOM and its network
log, and takes a screenshot kept as test-artifacts/swagger-ui.png.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from toolchain import ROOT, missing

ARTIFACTS = ROOT / "test-artifacts"
SPEC = ROOT / "openapi" / "authgate.yaml"
GUIDE_OPERATIONS = {
    ("post", "/api/v1/token/"),
    ("post", "/api/v1/token/refresh/"),
    ("get", "/api/v1/users/"),
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        missing("chromium", "`make test` installs Debian's chromium (apt-get, as root)")
    return found  # type: ignore[return-value]


def run_chromium(url: str, profile: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",  # we run as root
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        # Only the server is reachable: an asset from a CDN would fail to load.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=10000",
        *options,
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


class Operations(HTMLParser):
    """(method, path) of each rendered operation (`div.opblock` > `.opblock-summary-path`)."""

    def __init__(self) -> None:
        super().__init__()
        self.method = ""
        self.found: set[tuple[str, str]] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if "opblock" in classes:
            self.method = next(
                (c.removeprefix("opblock-") for c in classes if c.startswith("opblock-")), ""
            )
        elif "opblock-summary-path" in classes and attributes.get("data-path"):
            self.found.add((self.method, attributes["data-path"]))


@pytest.fixture(scope="module")
def ui_url(server) -> str:
    return f"{server.http_url}/api/v1/ui/"


@pytest.fixture(scope="module")
def rendered(ui_url, tmp_path_factory) -> tuple[str, list[dict]]:
    """The DOM Swagger UI rendered, and the requests the page made (from Chromium's NetLog)."""
    workdir = tmp_path_factory.mktemp("chromium")
    net_log = workdir / "net-log.json"
    dom = run_chromium(ui_url, workdir / "profile", f"--log-net-log={net_log}", "--dump-dom").stdout
    return dom, page_requests(json.loads(net_log.read_text()), ui_url)


def page_requests(net_log: dict, page_url: str) -> list[dict]:
    """The URL requests the page itself started: its main frame and what it initiated."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page_url))
    start_job = net_log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]
        for event in net_log["events"]
        if event["type"] == start_job
        and "url" in event.get("params", {})
        and (
            event["params"].get("initiator") == origin
            or event["params"].get("request_type") == "main frame"
        )
    ]


def spec_operations() -> set[tuple[str, str]]:
    paths = yaml.safe_load(SPEC.read_text())["paths"]
    return {
        (method, path) for path, item in paths.items() for method in item if method in HTTP_METHODS
    }


def test_swagger_ui_renders_every_operation_of_the_openapi_document(rendered):
    parser = Operations()
    parser.feed(rendered[0])
    assert spec_operations() >= GUIDE_OPERATIONS
    assert spec_operations() <= parser.found, f"rendered: {sorted(parser.found)}"


def test_swagger_ui_loads_nothing_but_the_servers_own_assets(rendered, ui_url):
    requests = rendered[1]
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(ui_url))
    urls = [request["url"] for request in requests]
    assert all(url.startswith(origin) for url in urls), urls
    loaded = {urlsplit(url).path.rsplit("/", 1)[-1] for url in urls}
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "openapi.json"} <= loaded, urls


def test_swagger_ui_screenshot_is_saved_as_an_artifact(ui_url, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "swagger-ui.png"
    screenshot.unlink(missing_ok=True)
    run_chromium(
        ui_url,
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1280,2000",
        f"--screenshot={screenshot}",
    )
    header = screenshot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 2000)
    print(f"Swagger UI screenshot: {screenshot}")
