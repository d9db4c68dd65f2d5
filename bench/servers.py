"""The servers under test: `authgate serve` and the two floors, on ports 0, logs in files.

A server's stderr goes to a file (a load run writes one audit line per refresh or login; a
pipe nobody drains would stall it), and its addresses are read from the lines every door
logs: `rest listening on http://…` and `grpc listening on …` (once per worker).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

BENCH = Path(__file__).resolve().parent
# Address characters only: with AUTHGATE_LOG_FORMAT=json the line goes on with `"}`.
REST_LINE = re.compile(r"rest listening on (http://[\w.:\[\]]+)")
GRPC_LINE = re.compile(r"grpc listening on ([\w.:\[\]]+)")


class ServerError(RuntimeError):
    """A server did not start, or stopped while it was measured."""


class Server:
    def __init__(
        self, name: str, command: Sequence[str], env: dict[str, str], log_path: Path
    ) -> None:
        self.name = name
        self.command = list(command)
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.http_url = ""
        self.grpc_target = ""
        self.started_at = 0.0
        # `authgate serve --workers N` (N > 1): a supervisor that serves nothing, N workers.
        self.supervised = False

    def start(self, *, rest: bool, grpc: bool, count: int = 1, timeout: float = 60) -> Server:
        """Start and wait until `count` processes logged each expected door."""
        self.started_at = time.monotonic()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own servers
                self.command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a Ctrl-C here does not reach it early
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.name} exited early:\n{self.log[-3000:]}")
            text = self.log
            rests, grpcs = REST_LINE.findall(text), GRPC_LINE.findall(text)
            if (not rest or len(rests) >= count) and (not grpc or len(grpcs) >= count):
                self.http_url = rests[0] if rests else ""
                self.grpc_target = grpcs[0] if grpcs else ""
                return self
            time.sleep(0.02)
        self.stop()
        raise ServerError(f"{self.name} did not report its addresses:\n{self.log[-3000:]}")

    @property
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def check_alive(self) -> None:
        """Refuse a measurement of a server that is gone or was told to stop by someone else."""
        if self.process is None or self.process.poll() is not None:
            raise ServerError(
                f"{self.name} stopped during the run (exit {self.process and self.process.poll()})"
                f"; end of its log:\n{self.log[-2000:]}"
            )
        if "shutting down" in self.log:
            raise ServerError(
                f"{self.name} was sent SIGTERM/SIGINT from outside this run (a pkill elsewhere?)"
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def serving_pids(self) -> list[int]:
        """The processes that answer requests (a supervisor's workers, or the floor's)."""
        children = [p for p in descendants(self.pid) if "resource_tracker" not in cmdline(p)]
        return children if self.supervised else [self.pid, *children]

    def rss_mb(self) -> dict[int, float]:
        """Resident memory of each serving process, in MB (10^6 bytes)."""
        return {pid: rss_mib(pid) * 1024 * 1024 / 1e6 for pid in self.serving_pids()}

    def cpu_seconds(self) -> float:
        """User + system CPU time of every process of the server (workers included)."""
        table = process_table()
        pids = [self.pid, *descendants(self.pid, table)]
        ticks = sum(table[pid].cpu_ticks for pid in pids if pid in table)  # a gone one counts 0
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group we started, by its id
            self.process.wait()


def authgate(
    data_dir: Path,
    log_path: Path,
    workers: int,
    extra_env: dict[str, str] | None = None,
    *,
    http_addr: str = "127.0.0.1:0",
    grpc_addr: str = "127.0.0.1:0",
) -> Server:
    env = {
        **os.environ,
        "AUTHGATE_DATA_DIR": str(data_dir),
        "AUTHGATE_HTTP_ADDR": http_addr,
        "AUTHGATE_GRPC_ADDR": grpc_addr,
        **(extra_env or {}),
    }
    env.pop("AUTHGATE_WORKERS", None)  # the flag below decides
    command = [sys.executable, "-m", "authgate", "serve"]
    if workers > 1:
        command += ["--workers", str(workers)]
    server = Server(f"authgate serve --workers {workers}", command, env, log_path)
    server.supervised = workers > 1
    return server


def floor(
    kind: str,
    key_file: Path,
    log_path: Path,
    workers: int,
    port: int = 0,
    login: tuple[str, str] | None = None,
) -> Server:
    """A floor server; `login` is the one account (email, password) its login accepts."""
    script = BENCH / f"floor_{kind}.py"
    command = [sys.executable, str(script), "--key-file", str(key_file), "--workers", str(workers)]
    command += ["--port", str(port), *(["--login", *login] if login else [])]
    return Server(f"{kind} floor ({workers} worker(s))", command, dict(os.environ), log_path)


def serve_accepts_workers() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "authgate", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "--workers" in done.stdout


# --------------------------------------------------------------------------- /proc


class ProcessStat(NamedTuple):
    name: str  # the command name, as in /proc/<pid>/stat
    parent: int
    cpu_ticks: int  # user + system, in clock ticks


def process_table() -> dict[int, ProcessStat]:
    """Every process on the machine, from /proc/<pid>/stat."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            table[int(entry.name)] = parse_stat((entry / "stat").read_text())
        except OSError:
            continue  # gone meanwhile
    return table


def parse_stat(stat: str) -> ProcessStat:
    """/proc/<pid>/stat: the name sits in parentheses (it may hold spaces); fields follow."""
    fields = stat[stat.rindex(")") + 2 :].split()
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    return ProcessStat(name, int(fields[1]), int(fields[11]) + int(fields[12]))


def descendants(pid: int, table: dict[int, ProcessStat] | None = None) -> list[int]:
    """The processes below `pid` (from `table`, or a fresh look at /proc)."""
    children: dict[int, list[int]] = {}
    for child, stat in (table if table is not None else process_table()).items():
        children.setdefault(stat.parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def pin(pid: int, cores: set[int]) -> None:
    """Run every thread of `pid` and of its descendants on `cores` (threads made later take
    the affinity of the thread that makes them)."""
    for process in (pid, *descendants(pid)):
        for task in Path(f"/proc/{process}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), cores)
            except (ProcessLookupError, FileNotFoundError):
                continue  # a thread that ended meanwhile


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_mib(pid: int) -> float:
    """VmRSS from /proc/<pid>/status, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
