"""Check 5: a non-validator started 500 blocks late syncs, leaves catching-up, and follows the chain."""

from __future__ import annotations

import time

import pytest

from devnet.cluster import Cluster
from node.types.genesis import TimeoutsMs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]  # start + 180 s + 90 s + 30 s, with room

LATE_BY = 500


def test_non_validator_500_blocks_late_syncs_and_follows(tmp_path):
    # A 40 ms commit pause: the 500 blocks come as fast as four validators on two cores make them.
    with Cluster(validators=4, timeouts=TimeoutsMs(commit=40), base_dir=tmp_path) as c, c.load(rate=10):
        c.wait_height(LATE_BY, timeout=180)
        joiner = c.add_node()
        assert joiner.role == "full"
        started = time.monotonic()
        deadline = started + 90
        while True:
            st = joiner.status()
            tip = c.height([0, 1, 2, 3])
            if not st["catching_up"] and st["height"] >= tip - 1:
                break
            assert time.monotonic() < deadline, f"joiner at {st['height']} of {tip}, sync {st.get('sync')}"
            time.sleep(0.2)
        print(f"synced {st['height']} blocks in {time.monotonic() - started:.1f}s")
        # It follows: new heights reach it by consensus gossip, and it stays out of catching-up.
        c.wait_height(c.height() + 10, timeout=30)
        assert joiner.status()["catching_up"] is False
        assert joiner.status()["validator"] is None
        c.assert_agree()
