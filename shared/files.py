"""Files the platform creates for itself are private to its user: directories 0700, files 0600.

The data directory holds the development admin token, every service's SQLite database and the
embedded log; none of it is for other users of the machine. Modes are set at creation (``os.open``
with a mode, not a ``chmod`` afterwards), so there is no moment where a file is readable by others;
files that already exist are left as they are (an operator may have chosen their modes).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` (0700; missing parents get the default mode) unless it exists."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)


def private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 (and its directory, 0700) unless it exists.

    An empty file is a valid empty SQLite database, and SQLite gives a database's ``-wal`` and ``-shm``
    files the database file's own mode, so creating it first is enough to keep all three private.
    """
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE))


def write_private_once(path: Path, text: str) -> str:
    """Write ``text`` to a new 0600 file at ``path``, atomically; if the file exists (another process won
    the race), return what it holds instead."""
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        try:
            os.link(temporary, path)  # fails if the file exists: the first writer wins, whole
        except FileExistsError:
            return path.read_text()
        return text
    finally:
        temporary.unlink(missing_ok=True)
