"""The staleness bound of an overwritten object, as docs/configuration.md ("Staleness") states it."""

from __future__ import annotations

import time
from typing import Callable


def read_until_new(read: Callable[[], bytes], old: bytes, new: bytes, within: float = 10.0) -> None:
    """Reads until `new` comes back, at most `within` seconds.

    Past the metadata TTL a worker may answer once more from the status it holds while it
    refreshes it (stale-while-revalidate), so the first read after an overwrite may still be the
    old version: every read must be one whole version, never a mix, and the new one must show.
    """
    seen = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and new not in seen:
        seen.append(read())
        time.sleep(0.2)
    assert set(seen) <= {old, new}, [s[:40] for s in seen]
    assert seen[-1] == new, f"still {seen[-1][:40]!r} after {within} s"
