"""Reading the user's files, with a `CedarError` naming the file when that fails."""

from __future__ import annotations

from cedar_smt.core.errors import CedarError, Loc


def read_text(path: str) -> str:
    """The file's text; text that is not UTF-8 is refused at the first byte that is not."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise CedarError(f"cannot read `{path}`: {err.strerror or err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise not_utf8(path, data, err) from None


def not_utf8(path: str, data: bytes, err: UnicodeDecodeError) -> CedarError:
    """Where the text stops being UTF-8: the byte, its offset, and its line and column."""
    line_start = data.rfind(b"\n", 0, err.start) + 1
    line = data.count(b"\n", 0, err.start) + 1
    column = len(data[line_start : err.start].decode("utf-8", errors="replace")) + 1
    shown = data.decode("utf-8", errors="replace")  # for the offending line under the message
    return CedarError(
        f"not UTF-8 text: byte 0x{data[err.start]:02X} at byte offset {err.start:,} ({err.reason})",
        source=path,
        loc=Loc(line, column, err.start, err.start + 1),
        text=shown,
    )
