"""`make image-test`: run the image as production would and drive the README's guide at it.

Read-only root, a non-root user, the data on a named volume; the guide's curl block and its
gRPC snippet against the published ports; then SIGTERM, which must end it with status 0 within
the shutdown grace; then a second container on the same volume still finds the user.
Usage: image_test.py IMAGE PODMAN-COMMAND...
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the suite's reader of the README's marked blocks
from readme_blocks import block_after  # noqa: E402

EMAIL, PASSWORD = "admin@example.com", "change-me-please"
# AUTHGATE_SHUTDOWN_GRACE_SECONDS's default, and podman's wait before SIGKILL beyond it.
GRACE, STOP_TIMEOUT = 10.0, 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(command: list[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    print("$", shlex.join(command), flush=True)
    result = subprocess.run(command, text=True, capture_output=True, cwd=cwd)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def wait_ready(url: str, timeout: float = 60.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer 200 within {timeout:.0f} s")


def main(image: str, podman: list[str]) -> None:
    name = f"authgate-image-test-{free_port()}"
    volume = f"{name}-data"
    http_port, grpc_port = free_port(), free_port()
    run([*podman, "volume", "create", volume])
    try:
        run(
            [*podman, "run", "--detach", "--name", name, "--read-only", "--user", "10001:10001",
             "--volume", f"{volume}:/var/lib/authgate",
             "--publish", f"127.0.0.1:{http_port}:8000",
             "--publish", f"127.0.0.1:{grpc_port}:50051",
             "--env", f"AUTHGATE_BOOTSTRAP_EMAIL={EMAIL}",
             "--env", f"AUTHGATE_BOOTSTRAP_PASSWORD={PASSWORD}",
             image]
        )  # fmt: skip
        base = f"http://127.0.0.1:{http_port}"
        print(f"ready in {wait_ready(base + '/readyz'):.1f} s", flush=True)
        curl = block_after("guide:curl").replace("http://127.0.0.1:8000", base)
        with tempfile.TemporaryDirectory() as scratch:  # the guide's pair.json, access.json
            listed = run(["bash", "-euo", "pipefail", "-c", curl], cwd=scratch).stdout
        assert listed.count(EMAIL) == 2, listed
        grpc = block_after("guide:grpc").replace("127.0.0.1:50051", f"127.0.0.1:{grpc_port}")
        listed = run([sys.executable, "-c", grpc]).stdout
        assert listed.count(EMAIL) == 2, listed
        print("the guide's curl and gRPC flows passed", flush=True)

        started = time.monotonic()
        run([*podman, "stop", "--time", str(STOP_TIMEOUT), name])
        took = time.monotonic() - started
        status = run([*podman, "inspect", "--format", "{{.State.ExitCode}}", name]).stdout
        print(f"SIGTERM: exit status {status.strip()} after {took:.1f} s", flush=True)
        assert status.strip() == "0" and took < GRACE, (status, took)

        # The data outlived the container: the user is on the volume.
        data = f"{volume}:/var/lib/authgate"
        users = run([*podman, "run", "--rm", "--read-only", "--user", "10001:10001",
                     "--volume", data, image, "users", "list"])  # fmt: skip
        assert EMAIL in users.stdout, users.stdout
    finally:
        subprocess.run([*podman, "logs", name], check=False)
        subprocess.run([*podman, "rm", "--force", name], capture_output=True, check=False)
        subprocess.run([*podman, "volume", "rm", "--force", volume], capture_output=True)
    size = run([*podman, "image", "inspect", "--format", "{{.Size}}", image]).stdout
    print(f"image-test passed; {image} is {int(size) / 1e6:.0f} MB", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
