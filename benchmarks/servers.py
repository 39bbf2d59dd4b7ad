"""Real servers for the replica tests and the serving benchmark: a PostgreSQL server from Debian's package (initdb
into a temporary folder, on a free loopback port), `rag serve` replicas, and Debian's nginx with deploy/nginx.conf."""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), None)
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def _as_postgres(args: list[str]) -> subprocess.CompletedProcess:
    """initdb and postgres refuse to run as root: as root, run them as the `postgres` user."""
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server; yields its URL (user rag, no password, loopback only)."""
    if PG_BIN is None:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql)")
    base = Path(tempfile.mkdtemp(prefix="rag-pg-"))  # not under a private (0700) folder: postgres must reach it
    base.chmod(0o755)
    data, sockets = base / "data", base / "run"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    try:
        done = _as_postgres([f"{PG_BIN}/initdb", "-D", str(data), "-A", "trust", "-U", "rag", "--no-sync"])
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
        port = free_port()
        done = _as_postgres([f"{PG_BIN}/pg_ctl", "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                             f"-p {port} -k {sockets} -h 127.0.0.1 -c fsync=off -c max_connections=200", "start"])
        if done.returncode:
            raise RuntimeError(f"postgres did not start: {done.stderr.strip()}")
        yield f"postgresql://rag@127.0.0.1:{port}/postgres"
    finally:
        _as_postgres([f"{PG_BIN}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    """A new empty database on the server."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + f"/{name}"


@contextlib.contextmanager
def replicas(n: int, env: dict[str, str], logs: Path) -> Iterator[tuple[list[str], list[subprocess.Popen]]]:
    """n `rag serve` processes with the given RAG_* settings; yields their URLs and processes once all answer."""
    logs.mkdir(parents=True, exist_ok=True)
    ports = [free_port() for _ in range(n)]
    procs = [subprocess.Popen([sys.executable, "-m", "rag", "serve"], cwd=ROOT,
                              env={**os.environ, **env, "RAG_PORT": str(port)},
                              stdout=open(logs / f"{port}.log", "w"), stderr=subprocess.STDOUT) for port in ports]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not all(get(u + "/") == 200 for u in urls):
            for port, proc in zip(ports, procs):
                if proc.poll() is not None:
                    raise RuntimeError(f"replica on {port} ended: " + (logs / f"{port}.log").read_text()[-2000:])
            time.sleep(1)
        if not all(get(u + "/") == 200 for u in urls):
            raise RuntimeError("replicas did not start within 300 s")
        yield urls, procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def nginx_front(upstreams: list[str], prefix: Path) -> Iterator[str]:
    """Debian's nginx with deploy/nginx.conf in front of two replicas; yields its URL."""
    if NGINX is None:
        raise RuntimeError("nginx is not installed (Debian package nginx)")
    prefix.mkdir(parents=True, exist_ok=True)
    front = free_port()
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    hosts = [u.split("://", 1)[1] for u in upstreams]
    for key, value in {"@PORT@": str(front), "@REPLICA_A@": hosts[0], "@REPLICA_B@": hosts[-1],
                       "@PREFIX@": str(prefix)}.items():
        conf = conf.replace(key, value)
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=open(prefix / "stderr.log", "w"))
    url = f"http://127.0.0.1:{front}"
    try:
        deadline = time.time() + 20
        while time.time() < deadline and get(url + "/") != 200:
            if proc.poll() is not None:
                raise RuntimeError("nginx ended: " + (prefix / "stderr.log").read_text())
            time.sleep(0.3)
        yield url
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
