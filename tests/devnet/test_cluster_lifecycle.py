"""The scenario API's own promises: pause/resume/restart work, failures show the logs, nothing outlives it."""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _alive(pid: int | None) -> bool:
    try:
        return pid is not None and not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def test_pause_resume_restart_and_logs_on_failure(tmp_path, capfd):
    pids: list[int | None] = []
    with pytest.raises(RuntimeError, match="scenario failed"), Cluster(4, block_time_ms=300, base_dir=tmp_path) as c:
        c.pause(3)
        h = c.height()
        c.wait_height(h + 3, timeout=20)  # paused nodes are left out by default
        assert 3 not in c.heights()
        c.resume(3)
        c.wait_height(h + 5, timeout=30, nodes=[0, 1, 2, 3])
        c.restart(2)
        c.wait_height(c.height() + 2, timeout=30)
        c.assert_agree()
        pids = [n.pid for n in c.nodes]
        raise RuntimeError("scenario failed")
    assert pids and not any(_alive(p) for p in pids)
    err = capfd.readouterr().err
    assert "==== devnet failure: RuntimeError: scenario failed" in err
    assert all(f"---- node{i} (validator" in err for i in range(4))


def test_keyboard_interrupt_stops_everything(tmp_path):
    pids: list[int | None] = []
    with pytest.raises(KeyboardInterrupt), Cluster(1, block_time_ms=300, base_dir=tmp_path) as c:
        c.pause(0)  # even a stopped process
        pids = [n.pid for n in c.nodes]
        raise KeyboardInterrupt
    assert pids and not any(_alive(p) for p in pids)
