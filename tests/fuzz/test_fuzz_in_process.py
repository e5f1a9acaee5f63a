"""The in-process fuzzers at a small budget (FUZZ_BUDGET overrides it), each with its positive control.

A control runs the same mutator and oracle against a planted fault (a decoder without the
canonical check, one that ignores trailing bytes, a block reader that indexes a commit blindly,
a checker that lets private names through) and must find it: an oracle that cannot fail, or a
mutator that never reaches the fault's state, fails the control. Every surface must also both
accept and reject inputs, and accept every seed: a fuzzer that never produces a valid input, or
whose seeds are not valid, would reach no deep state.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.blocks import BlockTarget, planted_block_validator
from tests.fuzz.codec_txs import CodecTarget, TxTarget, lenient_decode, lenient_tx_decoder
from tests.fuzz.contracts import ContractTarget, planted_compile
from tests.fuzz.driver import Report, format_findings, run_sync

SMALL = {"codec": 2000, "txs": 1500, "blocks": 400, "contracts": 120}
ROOT = Path(__file__).resolve().parents[2]


def budget(surface: str) -> int:
    return int(os.environ.get("FUZZ_BUDGET", SMALL[surface]))


def check_clean(report: Report, min_kinds: int = 1) -> None:
    assert not report.findings, format_findings(report)
    assert report.inputs == report.budget
    assert report.outcomes["seed-rejected"] == 0, report.outcomes
    assert report.accepted > report.inputs // 50 and report.rejected > report.inputs // 50, report.summary()
    accepted_kinds = {k for k in report.outcomes if k.startswith("accepted")}
    rejected_kinds = {k for k in report.outcomes if k.startswith("rejected")}
    assert len(accepted_kinds) >= min_kinds and len(rejected_kinds) >= min_kinds, report.outcomes


def test_codec() -> None:
    check_clean(run_sync(CodecTarget(), budget("codec"), seed=1))


def test_codec_control_finds_a_decoder_without_the_canonical_check() -> None:
    report = run_sync(CodecTarget(lenient_decode), 3000, seed=1, max_findings=1)
    assert [f.kind for f in report.findings] == ["oracle"], report.summary()


def test_txs() -> None:
    report = run_sync(TxTarget(), budget("txs"), seed=1)
    check_clean(report, min_kinds=4)  # native and Ethereum, transfers and calls; malformed, bad signature...
    assert {"accepted:native:Deploy", "accepted:eth:Call", "rejected:UnknownSelector"} <= set(report.outcomes)


def test_txs_control_finds_a_decoder_that_ignores_trailing_bytes() -> None:
    report = run_sync(TxTarget(lenient_tx_decoder), 3000, seed=1, max_findings=1)
    assert [f.kind for f in report.findings] == ["oracle"], report.summary()


def test_blocks() -> None:
    target = BlockTarget()
    try:
        report = run_sync(target, budget("blocks"), seed=1)
    finally:
        target.close()
    check_clean(report)
    assert report.outcomes["accepted:3+txs"] > 0 and report.outcomes["accepted:empty"] > 0, report.outcomes


def test_blocks_control_finds_a_blind_commit_read() -> None:
    target = BlockTarget(planted_block_validator)
    try:
        report = run_sync(target, 1000, seed=1, max_findings=1)
    finally:
        target.close()
    assert [f.kind for f in report.findings] == ["crash"], report.summary()


def test_contracts() -> None:
    report = run_sync(ContractTarget(), budget("contracts"), seed=1)
    check_clean(report)
    assert any(k.startswith("accepted:called") or k.startswith("accepted:deploy") for k in report.outcomes)


def test_contracts_control_finds_a_checker_that_lets_private_names_through() -> None:
    report = run_sync(ContractTarget(planted_compile), 1000, seed=1, max_findings=1)
    assert [f.kind for f in report.findings] == ["oracle"], report.summary()


def test_the_command_runs_a_surface_and_prints_the_table() -> None:
    out = subprocess.run([sys.executable, "-m", "tests.fuzz", "--surface", "codec,txs", "--budget", "200"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^codec +200 ", out.stdout, re.M) and re.search(r"^txs +200 ", out.stdout, re.M), out.stdout


@pytest.mark.parametrize("argv", [["--surface", "nope"]])
def test_the_command_refuses_an_unknown_surface(argv: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "tests.fuzz", *argv], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "unknown surface" in out.stderr
