"""A throwaway PostgreSQL cluster for tests: initdb into a temporary folder, pg_ctl start.

The server listens only on a unix socket in that folder (no TCP port is taken) and asks for a
password (scram-sha-256), so tests can check that a password never leaks. initdb refuses to
run as root: as root the cluster belongs to the `postgres` user, through `runuser`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "pg-Secret-pass-91c2"
PORT = 55432


@dataclass(frozen=True)
class Cluster:
    """A running cluster: where its socket is and how to reach it."""

    socket_dir: Path
    port: int
    user: str

    def url(self, password: str = PASSWORD, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) over the unix socket."""
        return (
            f"postgresql+psycopg://{self.user}:{password}@/{database}"
            f"?host={self.socket_dir}&port={self.port}"
        )


def server_bin() -> Path | None:
    """The folder of initdb and pg_ctl (Debian's /usr/lib/postgresql/N/bin, else the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextmanager
def postgres_cluster() -> Iterator[Cluster]:
    """Start a cluster in a fresh temporary folder; stop it and remove the folder after."""
    bindir = server_bin()
    assert bindir is not None, "no PostgreSQL server binaries (initdb, pg_ctl)"
    root = Path(tempfile.mkdtemp(prefix="persona-pg-"))
    as_user: list[str] = []
    user = pwd.getpwuid(os.getuid()).pw_name
    if os.getuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
        user = "postgres"
    data, socket_dir, pwfile = root / "data", root / "socket", root / "pwfile"

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, text=True)

    run("mkdir", str(socket_dir))
    run("sh", "-c", f"printf '%s\\n' '{PASSWORD}' > {pwfile}")
    run(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        user,
        "-A",
        "scram-sha-256",
        f"--pwfile={pwfile}",
        "--no-sync",
        "-E",
        "UTF8",
    )
    options = f"-p {PORT} -k {socket_dir} -c listen_addresses='' -c fsync=off"
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(root / "log"),
        "-w",
        "start",
    )
    try:
        yield Cluster(socket_dir=socket_dir, port=PORT, user=user)
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
