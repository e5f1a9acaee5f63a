"""The scorer of a monitor's alerts against a synthetic ledger's labels (finance/monitor/synth/score.py)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from finance.monitor.synth.score import ScoreError, fetch_alerts, score

A = "0x" + "aa" * 20
B = "0x" + "bb" * 20
C = "0x" + "cc" * 20
D = "0x" + "dd" * 20


def labels(*instances: dict, scored_from: int = 10) -> dict:
    return {"scored_from_height": scored_from, "windows": {"fan_out": 50, "large_value": 0, "cycle": 100},
            "instances": list(instances)}


def inst(typology: str, addresses: list[str], lo: int, hi: int) -> dict:
    return {"typology": typology, "addresses": addresses, "txs": ["0x01"], "from_height": lo, "to_height": hi}


def alert(rule: str, height: int, *addresses: str) -> dict:
    return {"id": f"0x{height:04x}", "rule": rule, "severity": "high", "height": height, "addresses": list(addresses),
            "txs": [], "asset": "FIN", "amount": "1", "explanation": "", "evidence": {}}


def test_an_alert_of_the_rule_naming_a_subject_inside_the_window_detects_the_instance():
    result = score(labels(inst("fan_out", [A], 20, 24), inst("fan_out", [B], 30, 31)),
                   [alert("fan_out", 24, A, C)])
    row = result["typologies"]["fan_out"]
    assert (row["planted"], row["detected"], row["recall"]) == (2, 1, 0.5)
    assert (row["alerts"], row["true_alerts"], row["precision"]) == (1, 1, 1.0)
    assert row["missed"] == [[B]]


@pytest.mark.parametrize(("height", "hit"), [(19, False), (20, True), (74, True), (75, False)])
def test_the_window_runs_from_the_first_height_to_the_last_plus_the_rules_window(height, hit):
    row = score(labels(inst("fan_out", [A], 20, 24)), [alert("fan_out", height, A)])["typologies"]["fan_out"]
    assert row["detected"] == int(hit)
    assert row["precision"] == (1.0 if hit else 0.0)


def test_a_rule_without_a_window_matches_only_inside_the_instance_and_slack_widens_it():
    lab = labels(inst("large_value", [A], 20, 20))
    assert score(lab, [alert("large_value", 21, A)])["typologies"]["large_value"]["detected"] == 0
    assert score(lab, [alert("large_value", 21, A)], slack=1)["typologies"]["large_value"]["detected"] == 1


def test_an_alert_of_another_rule_or_of_other_addresses_does_not_count():
    result = score(labels(inst("fan_out", [A], 20, 24)), [alert("velocity", 22, A), alert("fan_out", 22, B)])
    assert result["typologies"]["fan_out"]["detected"] == 0
    assert result["typologies"]["fan_out"]["precision"] == 0.0
    velocity = result["typologies"]["velocity"]
    assert (velocity["planted"], velocity["alerts"], velocity["precision"], velocity["recall"]) == (0, 1, 0.0, None)


def test_addresses_compare_without_case():
    upper = "0x" + "AA" * 20
    result = score(labels(inst("cycle", [upper], 20, 23)), [alert("cycle", 30, A)])
    assert result["typologies"]["cycle"]["detected"] == 1


def test_one_alert_may_detect_two_instances_and_counts_once_for_precision():
    result = score(labels(inst("cycle", [A, B], 20, 23), inst("cycle", [C, D], 20, 23)),
                   [alert("cycle", 23, B, C), alert("cycle", 40, D)])
    row = result["typologies"]["cycle"]
    assert (row["detected"], row["alerts"], row["true_alerts"]) == (2, 2, 2)


def test_setup_alerts_are_counted_apart_unless_asked_for():
    lab = labels(inst("fan_out", [A], 20, 24), scored_from=10)
    alerts = [alert("fan_out", 5, C), alert("fan_out", 9, D), alert("fan_out", 21, A)]
    result = score(lab, alerts)
    assert result["setup_alerts"] == {"fan_out": 2}
    assert result["typologies"]["fan_out"]["precision"] == 1.0
    with_setup = score(lab, alerts, include_setup=True)
    assert with_setup["setup_alerts"] == {}
    assert with_setup["typologies"]["fan_out"]["precision"] == round(1 / 3, 4)


def test_the_labels_windows_are_used_and_totals_add_up():
    lab = labels(inst("fan_out", [A], 20, 24), inst("cycle", [B], 20, 24))
    lab["windows"]["fan_out"] = 5
    result = score(lab, [alert("fan_out", 30, A), alert("cycle", 30, B)])
    assert result["typologies"]["fan_out"]["detected"] == 0
    assert result["total"] == {"planted": 2, "detected": 1, "recall": 0.5, "alerts": 2, "precision": 0.5}


def test_a_bare_list_of_instances_is_labels_too():
    result = score([inst("dormant", [A], 50, 50)], [alert("dormant", 50, A)])
    assert result["typologies"]["dormant"]["recall"] == 1.0
    assert result["scored_from_height"] == 0


@pytest.mark.parametrize("bad", [{"instances": "no"}, [{"typology": "cycle"}], [inst("cycle", [A], "x", 2)]])
def test_malformed_labels_are_refused(bad):
    with pytest.raises(ScoreError):
        score(bad, [])


def test_a_malformed_alert_is_refused():
    with pytest.raises(ScoreError, match="alert 1"):
        score(labels(), [alert("cycle", 1, A), {"rule": "cycle"}])


class _Monitor(BaseHTTPRequestHandler):
    """Serves aml_alerts over HTTP in pages of the requested size, as the monitor's RPC does."""

    alerts: ClassVar[list[dict]] = [alert("fan_out", 20 + k, A) for k in range(7)]
    seen: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(request["params"])
        start = int(request["params"].get("cursor") or 0)
        end = start + request["params"]["limit"]
        page = {"alerts": self.alerts[start:end], "next_cursor": str(end) if end < len(self.alerts) else None}
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": page}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_fetch_alerts_follows_the_cursor_to_the_end():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Monitor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        got = fetch_alerts(f"http://127.0.0.1:{server.server_address[1]}/", page=3, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert [a["height"] for a in got] == list(range(20, 27))
    assert _Monitor.seen == [{"limit": 3}, {"limit": 3, "cursor": "3"}, {"limit": 3, "cursor": "6"}]


def test_fetch_alerts_says_when_nothing_answers():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Monitor)
    port = server.server_address[1]
    server.server_close()
    with pytest.raises(ScoreError, match="cannot reach"):
        fetch_alerts(f"http://127.0.0.1:{port}/", timeout=2)
