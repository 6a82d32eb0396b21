"""Building many objects at once: the cyclic garbage collector paused meanwhile.

Reading 70,000 policies or 100,000 entities builds millions of objects, none of them in a
reference cycle. Python's collector, triggered every few hundred allocations, walks the older
objects again and again as they pile up: a third of the reading time of a large policy set,
and most of compiling it for its first request. Refcounting frees whatever such a build drops.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """The collector off for the block, on again after it if it was on before."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
