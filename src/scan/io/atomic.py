"""Write outputs so that a reader never sees half of one, and never touch anything scan did not
write.

The rules (the README's "Your files are safe"):

* An output folder may be written only when it is a new path, an empty folder, or a folder
  scan wrote itself: it holds the marker file :data:`MARKER`, which lists every file scan put
  there, and nothing else.  Anything else is refused *before* any computation
  (:func:`check_out`), with the reason and the fix.
* A result is written into a temporary folder beside the target (``.NAME.scan-tmp-PID-XXXX``,
  holding the marker too) and swapped into place in one atomic step (``renameat2`` with
  ``RENAME_EXCHANGE`` on Linux), so the old complete result survives until the new one is in
  place; only then is the old one (now in the temporary folder) removed.  Where the exchange is
  not available the old folder is first renamed aside (``.NAME.scan-old-PID-XXXX``) and a later
  run restores it if the process died between the two renames.
* Leftovers of killed runs (temporary or aside folders holding scan's marker, whose process is
  gone) are cleaned, or restored, by the next run.  Nothing without the marker is ever removed.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..errors import ScanParameterError

MARKER = ".scan-output"
"""The file that marks a folder as scan's own, listing the files scan wrote there."""

_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.scan-(?P<kind>tmp|old)-(?P<pid>\d+)-[A-Za-z0-9_]+$")


# --- ownership --------------------------------------------------------------------------------

def _marker(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("written_by") != "scan":
        return None
    return data


def _entries(folder: Path) -> set[str]:
    """Every file and folder inside ``folder``, as POSIX paths relative to it."""
    out = set()
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for name in dirs + files:
            out.add((rel / name).as_posix())
    return out


def foreign_entries(folder: Path) -> list[str]:
    """What in ``folder`` scan did not write (empty when the folder is empty or wholly scan's)."""
    entries = _entries(folder)
    if not entries:
        return []
    marker = _marker(folder)
    if marker is None:
        return sorted(entries)
    owned = set(marker.get("files", [])) | {MARKER}
    for f in list(owned):          # the folders on the way to an owned file are owned too
        parts = f.split("/")
        owned.update("/".join(parts[:k]) for k in range(1, len(parts)))
    return sorted(entries - owned)


def check_out(out, *, what: str = "--out") -> Path:
    """May scan write a result to ``out``?  Returns the absolute path, or raises
    ScanParameterError saying why not and what to do.  Call it before any computation."""
    path = Path(os.path.abspath(os.path.expanduser(str(out))))
    if path.exists() or path.is_symlink():
        if path.is_symlink():
            raise ScanParameterError(what, "a folder, not a symbolic link", str(out),
                                     "give the real folder, or a new path")
        if not path.is_dir():
            raise ScanParameterError(what, "a folder for the results", str(out),
                                     f"{path} is a file; scan never replaces a file it did not "
                                     "write: give a new folder name")
        foreign = foreign_entries(path)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more"
                                               if len(foreign) > 3 else "")
            raise ScanParameterError(
                what, "a new folder, an empty folder or one scan wrote itself", str(out),
                f"{path} holds files scan did not write ({shown}); scan never deletes or "
                "replaces them: give a new folder name")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ScanParameterError(what, "a path whose parent folders are folders", str(out),
                                 f"{parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ScanParameterError(what, "a folder scan can write", str(out),
                                 f"{parent} is not writable: choose a folder of yours")
    return path


# --- leftovers --------------------------------------------------------------------------------

def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(target: Path) -> None:
    """Remove the temporary folders killed runs left beside ``target`` and restore an old
    result set aside by a run that died mid-swap.  Only folders holding scan's marker, whose
    process is gone, are touched."""
    parent = target.parent
    if not parent.is_dir():
        return
    for p in parent.iterdir():
        m = _LEFTOVER.match(p.name)
        if not m or m["name"] != target.name or not p.is_dir() or p.is_symlink():
            continue
        if _alive(int(m["pid"])) or _marker(p) is None:
            continue
        if m["kind"] == "old" and not target.exists():
            os.replace(p, target)       # the new result never arrived: the old one comes back
        else:
            shutil.rmtree(p, ignore_errors=True)


# --- writing ----------------------------------------------------------------------------------

def _usual_permissions(path: Path) -> None:
    """mkdtemp/mkstemp create private files; give outputs the permissions of a plain write."""
    umask = os.umask(0)
    os.umask(umask)
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~umask)


def write_marker(folder: Path, **info) -> None:
    """List every file now in ``folder`` in its marker."""
    files = sorted(e for e in _entries(folder) if e != MARKER and not (folder / e).is_dir())
    from .. import __version__

    (folder / MARKER).write_text(json.dumps({"written_by": "scan", "version": __version__,
                                             **info, "files": files}, indent=1) + "\n",
                                 encoding="utf-8")


_RENAME_EXCHANGE = 2
_renameat2 = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step; False when the system cannot."""
    global _renameat2
    if _renameat2 is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            _renameat2 = libc.renameat2
            _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                   ctypes.c_uint]
        except (OSError, AttributeError):
            _renameat2 = False
    if not _renameat2:
        return False
    AT_FDCWD = -100
    rc = _renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_folder(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` at ``out``; the old ``out`` (scan's own, checked again
    now) survives until the new one is in place, then goes."""
    if out.exists():
        check_out(out)              # the user may have put something there since the start
        if _exchange(tmp, out):
            shutil.rmtree(tmp)      # tmp now holds the old result, scan's own
            return
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.scan-old-{os.getpid()}-",
                                      dir=out.parent))
        os.rmdir(aside)
        os.replace(out, aside)
        os.replace(tmp, out)
        shutil.rmtree(aside)
        return
    os.rename(tmp, out)


@contextmanager
def atomic_folder(out: str | os.PathLike, **marker_info):
    """Yield a temporary folder; on success it replaces ``out`` (see the module docstring), on
    error it is removed and ``out`` is untouched."""
    out = check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.scan-tmp-{os.getpid()}-", dir=out.parent))
    try:
        write_marker(tmp, **marker_info)
        yield tmp
        write_marker(tmp, **marker_info)
        _usual_permissions(tmp)
        replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_file(path: str | os.PathLike):
    """Yield a temporary path beside ``path`` (inside a folder scan owns); on success it
    replaces ``path`` in one rename, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _usual_permissions(tmp)
    os.replace(tmp, path)
