"""Writes that never leave a half-written file where a complete one was expected."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shlex
import shutil
import signal
import tempfile
import threading
from pathlib import Path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write to a temporary file beside ``path``, flush it to disk, then rename it over.

    A rename within one directory is atomic on POSIX: a reader (or a crash, or Ctrl-C)
    sees the old file or the new one, never a part.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide reports from others
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def temporary_prefix(path: Path) -> str:
    """The name prefix of a temporary beside ``path``: ``.NAME.pid<PID>-``. The writer's
    pid in the name lets a later write tell the temporaries of a writer that was killed
    outright (SIGKILL), which nothing else would ever remove."""
    return f".{path.name}.pid{os.getpid()}-"


_TEMPORARY = re.compile(r"pid(\d+)-[^/]*\.tmp")


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files and folders that writes of ``path`` left beside it when
    their process was killed before it could clean up (``.NAME.pid<PID>-*.tmp`` whose PID
    is no longer running here). Returns what was removed; a temporary of a live process,
    or one this user may not remove, is left alone."""
    path = Path(path)
    removed = []
    prefix = f".{path.name}."
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = _TEMPORARY.fullmatch(entry.name[len(prefix):])
        if match is None or _running(int(match.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            continue
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # this process's own write in progress (another thread's)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or not a pid: never ours to judge
    return True


def write_new_file(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path``, which must not exist: never over a file, even one that
    appeared since it was checked. Written to a temporary file beside it first and linked
    into place (os.link fails on an existing name), so that no reader sees a half-written
    file. Raises FileExistsError, or another OSError when it cannot be written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide the export from others
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: create exclusively instead
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(text)
    finally:
        os.unlink(tmp)
    return path


def new_file_problem(path: str | os.PathLike, purpose: str = "for the export") -> str | None:
    """Why ``path`` cannot become a new file (one sentence, naming it), or None when it can.

    The suite never writes over a file: an existing path (a file, a folder, a link, even
    a dangling one) is refused, as is a path whose nearest existing folder cannot be
    written (tried with a file made and removed at once).
    """
    if isinstance(path, str) and not path.strip():  # Path("") would be the current folder
        return f"expected the name of a new file {purpose}, got an empty value"
    path = Path(path)
    try:
        path.is_dir()
    except OSError as err:  # a name too long for the file system, say
        return (f"{shell_quoted(path)} cannot be written ({err.strerror or err}); give "
                f"another name")
    if path.is_dir():
        return f"{shell_quoted(path)} is a folder; give the name of a new file {purpose}"
    if os.path.lexists(path):
        return (f"{shell_quoted(path)} already exists and the suite never overwrites a file; give "
                "the name of a new file")
    folder = path.absolute().parent
    while not os.path.lexists(folder):  # the first folder that exists: write_text_atomic
        folder = folder.parent           # makes the missing ones below it
    if not folder.is_dir():
        return f"{shell_quoted(folder)} is not a folder, so {shell_quoted(path)} cannot be written"
    try:  # the only sure test (root ignores permissions, a read-only mount does not)
        fd, probe = tempfile.mkstemp(prefix=".sidebyside-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        return (f"{shell_quoted(path)} cannot be written ({shell_quoted(folder)}: "
                f"{err.strerror or err}); give a file in a writable folder")
    return None


def shell_quoted(path) -> str:
    """A path as the user can paste it into a shell, on one line: quoted where it holds a
    space or another character the shell would read; a control character (a newline, an
    escape) written as bash's ``$'...'`` escape, so that it is neither run nor printed raw."""
    text = str(path)
    if text.isprintable():
        return shlex.quote(text)
    return "$'" + "".join(_ansi_c(ch) for ch in text) + "'"


def _ansi_c(ch: str) -> str:
    """One character inside bash's ``$'...'``: itself, or its escape."""
    if ch in "\\'":
        return "\\" + ch
    if ch.isprintable():
        return ch
    if 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's escape)
        return f"\\x{ord(ch) - 0xDC00:02x}"
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else f"\\U{ord(ch):08x}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


# Signals that must not cut a folder's move into place in half: the move is a few renames,
# so they wait for its end (and take effect right after it).
_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StagedFolder:
    """A folder written in full beside its place, then moved in: ``with StagedFolder(target)
    as staging:`` write the files into ``staging`` (a new temporary folder beside
    ``target``); when the block ends normally they are moved into place, and ``folder``
    says where they went. An interruption or error before that leaves ``target`` as it
    was; the temporary folder is removed either way.

    A ``target`` that does not exist yet is the temporary folder renamed (one atomic
    rename). An existing one (a run folder, which also holds the result file) gets each
    file by ``os.replace``: every file is whole, old or new, and SIGINT, SIGTERM and SIGHUP
    wait until the renames are done, so an interruption never leaves a mixture. Files of
    ``target`` that the block did not write are left alone. With ``fresh``, an existing
    folder is never written into: the files go to ``target-2``, ``target-3``, ... instead.

    Raises ``FileExistsError`` (before any file is moved) when a file of the new folder
    would replace one of ``protect`` (paths of input files, compared with
    ``os.path.samefile``, so links and other spellings of the same file are caught).
    """

    def __init__(self, target: str | os.PathLike, protect=(), fresh: bool = False):
        self.target, self.protect, self.fresh = Path(target), tuple(protect), fresh
        self.folder: Path | None = None
        self._staging: Path | None = None

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.target)
        try:
            self._staging = Path(tempfile.mkdtemp(prefix=temporary_prefix(self.target),
                                                  suffix=".tmp", dir=self.target.parent))
        except OSError as err:
            # The temporary folder is ours, not the user's: name the folder they asked for.
            raise OSError(err.errno, err.strerror, str(self.target)) from None
        try:
            os.chmod(self._staging, 0o777 & ~_umask())  # mkdtemp's 0700 hides the reports
        except BaseException:
            shutil.rmtree(self._staging, ignore_errors=True)
            raise
        return self._staging

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None:
                names = sorted(p.name for p in self._staging.iterdir())
                with _signals_held():
                    self.folder = _move_into_place(self._staging, names, self.target,
                                                   self.protect, self.fresh)
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)


def write_folder(target: str | os.PathLike, files: dict, protect=(),
                 fresh: bool = False) -> Path:
    """Write ``files`` (name -> text, written as UTF-8, or bytes) into ``target`` at once
    through a StagedFolder (which says what ``protect`` and ``fresh`` do and what it
    raises); return the folder they went to. A KeyboardInterrupt (Ctrl-C, or a signal
    handled as one) gets ``report_folder``: that folder when the files were moved in
    before it, else None (nothing was)."""
    staged = StagedFolder(target, protect=protect, fresh=fresh)
    try:
        with staged as staging:
            for name, content in files.items():
                if isinstance(content, bytes):
                    write_bytes_atomic(staging / name, content)
                else:
                    write_text_atomic(staging / name, content)
    except KeyboardInterrupt as err:
        err.report_folder = staged.folder
        raise
    return staged.folder


def _move_into_place(staging: Path, names: list[str], target: Path, protect,
                     fresh: bool) -> Path:
    n = 1
    while True:
        candidate = target if n == 1 else target.with_name(f"{target.name}-{n}")
        if fresh and (candidate.exists() or candidate.is_symlink()):
            n += 1
            continue
        if not candidate.exists():
            try:
                os.rename(staging, candidate)  # an empty folder made meanwhile is replaced
                return candidate
            except OSError as err:  # another process filled it meanwhile
                if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                if fresh:
                    n += 1
                    continue
        for name in names:
            for kept in protect:
                if _same_file(candidate / name, kept):
                    raise FileExistsError(errno.EEXIST, "it would replace an input file",
                                          str(candidate / name))
        for name in names:
            os.replace(staging / name, candidate / name)
        _fsync_folder(candidate)
        return candidate


def _same_file(a: Path, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT, SIGTERM and SIGHUP back until the block ends, then deliver them to
    whatever handles them (Python runs signal handlers in the main thread only, whichever
    thread the signal arrives at, so replacing the handlers is enough)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived = []
    previous = {sig: signal.signal(sig, lambda number, frame: arrived.append(number))
                for sig in _HELD_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(arrived):
            signal.raise_signal(sig)
