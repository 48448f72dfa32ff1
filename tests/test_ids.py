"""Row ids: 32 hex digits, time-ordered (appended to primary-key indexes), unique."""

from __future__ import annotations

import re
import time

from alertwhisperer.db import new_id


def test_ids_are_hex_time_ordered_and_unique() -> None:
    first = new_id()
    time.sleep(0.002)
    many = [new_id() for _ in range(20_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in (first, *many[:100]))
    assert len(set(many)) == len(many)
    assert first < min(many)  # a later millisecond sorts after
    assert abs(int(first[:12], 16) - time.time_ns() // 1_000_000) < 60_000
