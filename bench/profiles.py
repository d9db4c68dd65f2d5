"""Where the interpreter's time goes: py-spy samples of the GIL holder, by software layer.

`py-spy record --gil` samples only the thread holding the GIL. A worker process is one event
loop plus helper threads (the store's, argon2's), so the GIL is the resource it saturates:
samples / rate is GIL-seconds, and GIL-seconds / requests is the interpreter time one request
costs. Each sample goes to the layer of its innermost frame that belongs to a known package;
stdlib helpers (json, asyncio, typing, ...) count for whoever called them.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

LAYERS: dict[str, str] = {
    "uvicorn": "uvicorn + httptools",
    "httptools": "uvicorn + httptools",
    "h11": "uvicorn + httptools",
    "connexion": "Connexion + Starlette",
    "starlette": "Connexion + Starlette",
    "jsonschema": "Connexion + Starlette",
    "jsonschema_rs": "Connexion + Starlette",
    "referencing": "Connexion + Starlette",
    "werkzeug": "Connexion + Starlette",
    "rpds": "Connexion + Starlette",
    "attr": "Connexion + Starlette",
    "jwt": "JWT (PyJWT + cryptography)",
    "cryptography": "JWT (PyJWT + cryptography)",
    "sqlite3": "database driver (sqlite3, psycopg)",
    "psycopg": "database driver (sqlite3, psycopg)",
    "google": "protobuf",
    "protobuf": "protobuf",
    "python_multipart": "Connexion + Starlette",
    "grpc": "grpc",
    "grpc_status": "grpc",
    "logging": "logging (access and audit lines)",
    "prometheus_client": "metrics (prometheus_client)",
    "argon2": "argon2",
    "limits": "AuthGate code",
    "authgate": "AuthGate code",
    "floor_rest.py": "floor handlers",
    "floor_grpc.py": "floor handlers",
    "floor_work.py": "floor handlers",
}
# Entry frames every sample passes through; they are not where the time goes.
_ROOTS = ("authgate/cli.py", "authgate/__main__.py", "authgate/server.py", "authgate/workers.py")
_FLOOR_ROOTS = ("<module>", "main", "first", "serve")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::\d+)?\)$")
OTHER = "event loop, grpc core, other"
# Layers a request passes through rather than calls: not counted as a module's own time.
FRAMEWORK = {"Connexion + Starlette", "uvicorn + httptools", "grpc", OTHER}
RATE = 200  # samples per second
SECONDS = 8  # per profiled run: ~1,000 GIL samples or more


def available() -> bool:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) is not None or bool(
        shutil.which("py-spy")
    )


def py_spy() -> str:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"


def record(pid: int, seconds: int, out: Path, rate: int = RATE) -> subprocess.Popen[bytes]:
    """Start sampling `pid` for `seconds` (raw collapsed stacks into `out`); wait on it."""
    command = [py_spy(), "record", "--gil", "-r", str(rate), "-d", str(seconds)]
    command += ["-f", "raw", "-o", str(out), "-p", str(pid)]
    return subprocess.Popen(  # noqa: S603 - py-spy from the venv, on our own server
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _parse(frame: str) -> tuple[str, str]:
    """(function, file) of a py-spy frame; file "" for an entry frame or an unknown one."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame, ""
    func, path = match.group("func"), match.group("file")
    name = path.rpartition("/")[2]
    if name.startswith("floor_"):  # the floors run as scripts: py-spy may give a full path
        path = name
    if (
        path.startswith(_ROOTS)
        or path == "authgate"
        or (name.startswith("floor_") and func in _FLOOR_ROOTS)
    ):
        return func, ""
    return func, path


def _layer(paths: list[str]) -> str:
    for path in reversed(paths):
        # attrs-generated methods are named for their class: jsonschema's, referencing's.
        path = path.removeprefix("<attrs generated methods ")
        top = path.split("/", 1)[0].split(".", 1)[0]
        if top in LAYERS:
            return LAYERS[top]
    return OTHER


@dataclass
class Profile:
    samples: int = 0
    by_layer: collections.Counter[str] = field(default_factory=collections.Counter)
    leaves: collections.Counter[str] = field(default_factory=collections.Counter)
    # Samples with a frame of each AuthGate module on the stack (inclusive time), and
    # samples whose innermost AuthGate frame is in the module (its own share).
    by_module: collections.Counter[str] = field(default_factory=collections.Counter)
    by_module_self: collections.Counter[str] = field(default_factory=collections.Counter)

    def share(self, layer: str) -> float:
        return self.by_layer[layer] / self.samples if self.samples else 0.0


def read(raw: Path) -> Profile:
    profile = Profile()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        paths = [_parse(frame)[1] for frame in frames]
        n = int(count)
        profile.samples += n
        layer = _layer(paths)
        profile.by_layer[layer] += n
        profile.leaves[frames[-1]] += n
        ours = [p for p in paths if p.startswith("authgate/")]
        for module in set(ours):
            profile.by_module[module] += n
        if ours and layer not in FRAMEWORK:
            profile.by_module_self[ours[-1]] += n
    return profile
