"""Reading the user's files, with a `CedarError` naming the file when that fails."""

from __future__ import annotations

from cedar_smt.core.errors import CedarError


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as err:
        raise CedarError(f"cannot read `{path}`: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise CedarError(f"cannot read `{path}`: not UTF-8 text") from None
