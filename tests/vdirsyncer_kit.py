"""vdirsyncer as a person runs it against our server: a config pairing their calendar home with local
folders, and its commands (tests/clients, tests/sharing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .server import Server, password


def vdirsyncer_config(server: Server, user: str, root: Path, *, read_only: bool = False) -> Path:
    """One pair: the user's whole calendar home on the server, and a folder per calendar."""
    (root / "local").mkdir(parents=True, exist_ok=True)
    (root / "password").write_text(password(user))
    config = root / "config"
    config.write_text(f"""[general]
status_path = "{root / 'status'}/"

[pair calendars]
a = "server"
b = "local"
collections = ["from a"]
conflict_resolution = "a wins"

[storage server]
type = "caldav"
url = "{server.url}/{user}/"
username = "{user}"
password.fetch = ["command", "cat", "{root / 'password'}"]
{"read_only = true" if read_only else ""}

[storage local]
type = "filesystem"
path = "{root / 'local'}/"
fileext = ".ics"
""", encoding="utf-8")
    return config


def vdirsyncer(config: Path, *steps: str) -> subprocess.CompletedProcess:
    done = None
    for step in steps:
        done = subprocess.run([sys.executable, "-m", "vdirsyncer", "-c", str(config), step], input="y\n" * 5,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            return done
    assert done is not None
    return done
