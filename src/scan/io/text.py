"""Open a text input file once, safely: the checks every reader shares.

Every reader of a text input (the location CSV, the space-time CSV, SaTScan's .cas, .ctl, .pop,
.geo and .prm files) gets its text from :func:`read_text`, so a missing file, a folder, a file
without read permission, a device, a binary file or a file in another encoding is reported the
same way everywhere: one :class:`~scan.errors.ScanInputError` naming the file (and the line,
where there is one), never a traceback.

Encodings (the rule, documented once):

- UTF-8 is the format of every input; a UTF-8 byte-order mark (Excel's "CSV UTF-8") is dropped.
- UTF-16 and UTF-32 files **with** a byte-order mark (Notepad's "Unicode", Excel's "Unicode
  Text") are decoded correctly: the mark says unambiguously how to read them.
- Anything else that is not valid UTF-8 (Latin-1 / Windows-1252 exports, UTF-16 without a
  mark, binary files) is refused with the line of the first bad byte and the fix: save the file
  as UTF-8.  Guessing an encoding would silently turn a location id into a different one.
- A NUL byte never occurs in text: a file holding one is reported as binary (or as UTF-16
  without a byte-order mark when the NULs alternate with the text).

A file larger than :data:`MAX_TEXT_BYTES` is refused before it is read, with the size.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import stat
from pathlib import Path
from typing import Iterator

from ..errors import ScanInputError

MAX_TEXT_BYTES = 1 << 30
"""Largest text input read (1 GiB): parsing a bigger file would need many times that in memory."""

CSV_FIELD_LIMIT = csv.field_size_limit()
"""Longest CSV field Python's csv module accepts (131,072 characters unless changed)."""

_BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"), (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
_SIGNATURES = (  # what a user most often passes by mistake, by its first bytes
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one): export the sheet as "
                    "'CSV UTF-8' first"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook: export the sheet as 'CSV UTF-8' first"),
    (b"\x1f\x8b", "a gzip-compressed file: decompress it first"),
    (b"%PDF", "a PDF document, not a data file"),
    (b"\x89HDF", "an HDF5/NetCDF-4 file, not a text data file"),
    (b"CDF\x01", "a NetCDF file, not a text data file"),
    (b"CDF\x02", "a NetCDF file, not a text data file"),
    (b"PAR1", "a Parquet file: write it as CSV first"),
)


def unreadable_reason(path) -> str | None:
    """Why ``path`` cannot be read as an input file, or None when it can be opened.

    The reasons are phrased to follow the file name ("not found", "is a folder", ...).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return f"was not found (looked for {Path(path).absolute()})"
    except NotADirectoryError:
        return (f"was not found: a part of the path {Path(path).absolute()} is a file, not a "
                "folder")
    except PermissionError:
        return "cannot be reached: permission denied on a folder of its path"
    except (OSError, ValueError) as exc:          # name too long, NUL in the name, ...
        return f"cannot be opened ({exc.__class__.__name__}: {exc})"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder, not a file; give the path of the file inside it"
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        return "is not a regular file (a device or a socket); give the path of a data file"
    if not os.access(path, os.R_OK):
        return "cannot be read: permission denied; check the file's permissions (chmod u+r)"
    if stat.S_ISREG(info.st_mode) and info.st_size > MAX_TEXT_BYTES:
        return (f"is {info.st_size / 2**30:.1f} GiB, larger than the {MAX_TEXT_BYTES / 2**30:g} "
                "GiB scan reads from one text file; split or aggregate it first")
    return None


def check_readable(path, *, what: str = "input file") -> None:
    """Raise a :class:`ScanInputError` naming ``path`` when it cannot be opened for reading."""
    reason = unreadable_reason(path)
    if reason is not None:
        raise ScanInputError(f"{what} {reason}", file=str(path))


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def refuse_binary(data: bytes, what: str, file) -> None:
    """Refuse, with the reason and the fix, bytes (a file or its first part) that are not text:
    a known binary format (:data:`_SIGNATURES`), UTF-16 without a byte-order mark, a NUL."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            raise ScanInputError(f"{what} is {kind}", file=file, line=1)
    nul = data.find(b"\x00")
    if nul >= 0:
        if _looks_utf16(data[:4096]):
            raise ScanInputError(f"{what} looks like UTF-16 text without a byte-order mark; save "
                                 "it as UTF-8", file=file)
        raise ScanInputError(f"{what} holds a NUL byte (byte {nul} of the file): it is a binary "
                             "file, not text; export the data as a UTF-8 text file",
                             file=file, line=_line_of(data, nul))


def _looks_utf16(head: bytes) -> bool:
    """ASCII text in UTF-16: every other byte NUL, the bytes between them printable."""
    for zeros, text in ((head[1::2], head[0::2]), (head[0::2], head[1::2])):
        if (len(zeros) >= 4 and zeros.count(0) >= 0.9 * len(zeros)
                and sum(9 <= b < 127 for b in text) >= 0.9 * len(text)):
            return True
    return False


def _decode(data: bytes, file: str, what: str) -> str:
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom):].decode(codec)
            except UnicodeDecodeError as exc:
                raise ScanInputError(
                    f"{what} starts with a {name} byte-order mark but is not valid {name} (bytes "
                    f"{exc.start + len(bom)}-{exc.end + len(bom) - 1} of the file); save it as "
                    "UTF-8", file=file) from None
            if "\x00" in text:
                raise ScanInputError(f"{what} holds a NUL character: it is a binary file, not "
                                     "text; export the data as a UTF-8 text file", file=file,
                                     line=text.count("\n", 0, text.index("\x00")) + 1)
            return text
    refuse_binary(data, what, file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_of(data, exc.start)
        bad = data[exc.start:exc.start + 1].hex()
        start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[start:exc.start].decode("utf-8", errors="replace")) + 1
        raise ScanInputError(
            f"byte 0x{bad} (column {column}) is not UTF-8 text; the file was probably saved in "
            "another encoding (Latin-1, Windows-1252, ...): save it as UTF-8 (in Excel: "
            "'CSV UTF-8')", file=file, line=line) from None


def read_text(path, *, what: str = "input file") -> str:
    """The whole text of ``path``, decoded (see the module docstring for the encodings).

    ``what`` names the file's role in messages ("case file", "CSV file", ...).  Raises
    :class:`ScanInputError` naming the file for every reason it cannot be read as text.
    """
    file = str(path)
    check_readable(path, what=what)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TEXT_BYTES + 1)
    except OSError as exc:            # raced with a deletion, an I/O error on the disk, ...
        raise ScanInputError(f"{what} could not be read ({exc.strerror or exc})",
                             file=file) from None
    if len(data) > MAX_TEXT_BYTES:
        raise ScanInputError(f"{what} is larger than the {MAX_TEXT_BYTES / 2**30:g} GiB scan reads "
                             "from one text file; split or aggregate it first", file=file)
    return _decode(data, file, what)


def numbered_lines(path, *, what: str = "input file") -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its end) for every line of ``path``.

    Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` only (as editors count them; a form feed or
    a Unicode line separator inside a line does not start a new one).
    """
    text = read_text(path, what=what)
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        yield number, line.rstrip("\n")


def csv_rows(path, *, what: str = "CSV file") -> Iterator[tuple[int, list[str]]]:
    """(1-based line where the record starts, fields) for every record of a CSV file.

    Blank lines are yielded as empty lists (callers skip them).  A field longer than Python's
    csv limit (:data:`CSV_FIELD_LIMIT`, almost always an unclosed quote swallowing the rest of
    the file) and any other CSV syntax error become a :class:`ScanInputError` with the line.
    """
    file = str(path)
    reader = csv.reader(io.StringIO(read_text(path, what=what), newline=""))
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise ScanInputError(
                    f"a field is longer than {CSV_FIELD_LIMIT:,} characters, the most a CSV field "
                    "may hold; this is usually an opening quote (\") without its closing quote, "
                    "which swallows the rest of the file: check the quotes on this line",
                    file=file, line=start) from None
            raise ScanInputError(f"not valid CSV ({exc})", file=file, line=start) from None
        yield start, row
        start = reader.line_num + 1
