"""Room for deep input: an entry point of core/ that runs out of Python's recursion limit is
run once more in a thread with a large stack and a high limit.

Cedar reads expressions nested hundreds of levels deep and chains of thousands of operators
(`a && b && ...` is a tree as deep as the chain is long), and the walkers of core/ (parsing
nested brackets, typechecking, evaluating, printing) recurse on that depth. Python's default
limit of 1,000 frames is reached long before; the main thread's stack may be too small for a
higher one. So each public entry point is wrapped: the first run costs nothing extra, and only
a run that hits the limit is repeated where there is room. Input too deep even for that is
refused with one message (the wrapped function's error class), never a `RecursionError`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from cedar_smt.core.errors import CedarError

F = TypeVar("F", bound=Callable[..., Any])

STACK_BYTES = 1 << 30  # reserved, not used: the system commits only the pages touched
RECURSION_LIMIT = 200_000  # frames, well within that stack even when calls cross C code

_local = threading.local()
_lock = threading.Lock()  # one deep run at a time: the recursion limit is the process's


def room_for_depth(error: type[CedarError] = CedarError) -> Callable[[F], F]:
    """Wrap an entry point so that deep input gets the room it needs, or `error`."""

    def decorate(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except RecursionError:
                if getattr(_local, "deep", False):  # already deep: the outermost entry decides
                    raise
            try:
                return _run_deep(fn, args, kwargs)
            except RecursionError:
                raise error(
                    "the input nests too deeply for cedar-smt (more than "
                    f"{RECURSION_LIMIT:,} nested calls)"
                ) from None

        return wrapper  # type: ignore[return-value]

    return decorate


def _run_deep(fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        _local.deep = True
        try:
            outcome.append((True, fn(*args, **kwargs)))
        except BaseException as err:  # handed to the caller's thread
            outcome.append((False, err))

    with _lock:
        limit = sys.getrecursionlimit()
        try:
            size = threading.stack_size(STACK_BYTES)
        except (ValueError, RuntimeError):  # a platform that cannot: no more room to give
            raise RecursionError from None
        sys.setrecursionlimit(max(limit, RECURSION_LIMIT))
        try:
            thread = threading.Thread(target=target, name="cedar-smt-deep", daemon=True)
            try:
                thread.start()
            finally:
                threading.stack_size(size)
            thread.join()
        finally:
            sys.setrecursionlimit(limit)
    ok, value = outcome[0]
    if ok:
        return value
    raise value
