"""One command at a time per folder: an OS-level lock (flock) on FOLDER/.refinery.lock, held for the life of a
`refinery run` on a run folder or a `refinery train` on a checkpoint folder.

The kernel releases the lock when the process holding it ends, however it ends, so a killed command leaves no
stale lock: the file stays, unlocked, and the next command takes it. The file names its holder (pid, host,
command, start time) only so the refusal can say who holds it. Standard library only: the trainer takes the
same lock on a GPU box that has none of the pipeline's packages. On NFS, Linux maps flock to the server's byte
range locks (NFSv4, or lockd for v3), so two nodes sharing a run folder see each other's lock.
"""

import contextlib
import errno
import fcntl
import json
import os
import socket
import time

LOCK_NAME = ".refinery.lock"


class FolderLocked(RuntimeError):
    pass


class FolderLock:
    def __init__(self, folder: str, command: str):
        self.folder = folder
        self.path = os.path.join(folder, LOCK_NAME)
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> "FolderLock":
        os.makedirs(self.folder, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _holder(fd)
            os.close(fd)
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise FolderLocked(f"{self.folder} is in use by {holder}; wait for it to end, or use another folder") from None
        self._fd = fd
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        with contextlib.suppress(OSError):  # the lock holds without the note (a full disk cannot take it)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        return self

    def release(self):
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"another `{info['command']}` (pid {info['pid']} on {info['host']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another refinery command"
