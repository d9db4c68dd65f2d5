"""`authgate serve` with tracing: OTEL_TRACES_EXPORTER=console prints the spans of a caller's
trace; without an exporter named, or without the otel extra, no OpenTelemetry module loads.

The spans themselves, read in-process: tests/doors/test_tracing.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD, BOOTSTRAP_ADMIN
from servers import ServerProcess, wait_for

# Installed as sitecustomize: makes `opentelemetry` unimportable, as if the extra were absent,
# and says at exit which OpenTelemetry modules the process loaded all the same.
WITHOUT_THE_EXTRA = textwrap.dedent(
    """
    import atexit, sys

    class NoOpenTelemetry:
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ImportError(f"No module named {name!r} (blocked by the test)")
            return None

    sys.meta_path.insert(0, NoOpenTelemetry())

    @atexit.register
    def report():
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
        sys.stderr.write(f"opentelemetry modules loaded: {loaded}\\n")
    """
)

# Every module `authgate serve` imports to serve both doors and trace them.
SERVING_MODULES = (
    "authgate.process.cli",
    "authgate.process.server",
    "authgate.process.workers",
    "authgate.rest.app",
    "authgate.grpc.server",
    "authgate.store.database",
    "authgate.core.operations",
    "authgate.observability.access_log",
)


def test_console_exporter_prints_the_spans_of_a_callers_trace(tmp_path: Path) -> None:
    trace_id = os.urandom(16).hex()
    server = ServerProcess(
        tmp_path,
        BOOTSTRAP_ADMIN | {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "authgate-t"},
        with_stdout=True,
    ).start()
    try:
        response = httpx.post(
            f"{server.http_url}/api/v1/token/",
            json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            headers={"traceparent": f"00-{trace_id}-{os.urandom(8).hex()}-01"},
            timeout=10,
        )
        assert response.status_code == 200
    finally:
        assert server.stop() == 0, server.log  # the batch is exported on the way out

    log = server.log
    assert "tracing on: exporting spans to console" in log
    assert f'"trace_id": "0x{trace_id}"' in log, log
    for name in ("POST /api/v1/token/", "authgate.core issue_token_pair", "users.login_row"):
        assert name in log, name
    assert '"service.name": "authgate-t"' in log
    assert ADMIN_PASSWORD not in log
    assert response.json()["access"] not in log
    # The access line names the same trace.
    wait_for(lambda: f'"trace_id":"{trace_id}"' in server.log, 5, report=lambda: server.log)


def test_without_the_extra_serving_loads_no_opentelemetry(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(WITHOUT_THE_EXTRA)
    pythonpath = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    server = ServerProcess(
        tmp_path / "data",
        BOOTSTRAP_ADMIN | {"OTEL_TRACES_EXPORTER": "console", "PYTHONPATH": pythonpath},
    ).start()
    try:
        response = httpx.post(
            f"{server.http_url}/api/v1/token/",
            json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            timeout=10,
        )
        assert response.status_code == 200
    finally:
        assert server.stop() == 0, server.log

    assert "the otel extra is not installed" in server.log
    assert "opentelemetry modules loaded: []" in server.log, server.log


def test_with_the_extra_and_no_exporter_named_nothing_of_it_loads() -> None:
    script = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {SERVING_MODULES!r}:
            importlib.import_module(name)
        from authgate.observability import tracing
        for environ in ({{}}, {{"OTEL_TRACES_EXPORTER": "none"}},
                        {{"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}}):
            assert tracing.start_tracing(environ) is False, environ
        print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}

    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
