"""SIGKILL the real issuer service at every step of submission and approval, restart it, and check
that no application is lost or duplicated and that each one is attested exactly once on chain."""

from __future__ import annotations

import random
import threading
import time

import pytest

from finance.identity.commitment import SaltedDocument
from finance.kyc.attest import FAILPOINTS_ENV
from finance.kyc.envelope import Application, build_application, compute_ref
from node.client.sdk import RpcCallError, TransportError
from node.types.crypto import PrivateKey, to_checksum_address
from tests.finance.chain import TOPICS, attestations, start_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = start_world(tmp_path_factory.mktemp("kyc-kill"))
    svc = w.service()
    w.svc = svc  # type: ignore[attr-defined]
    try:
        yield w
    finally:
        svc.stop()
        w.node.stop()


def _application(svc, n: int) -> Application:
    info = svc.client.info()
    doc = SaltedDocument.create({"country": "DE", "given_name": f"person {n}"}).to_json()
    return build_application(PrivateKey((5000 + n).to_bytes(32, "big")), bytes.fromhex(info["issuer"][2:]),
                             bytes.fromhex(info["public_key"][2:]), tuple(TOPICS), doc, int(time.time() * 1000))


def _wait(svc, app_id: str, state: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    rec: dict = {}
    while time.monotonic() < deadline:
        try:
            rec = svc.client.application(app_id)
            if rec["state"] == state:
                return rec
        except TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{app_id} is {rec.get('state')}, not {state}, after {timeout}s:\n{svc.log_tail()}")


def _assert_once(world, apps: list[Application]) -> None:
    events = attestations(world.client, to_checksum_address(world.issuer_key.address))
    refs = [e["data"][6] for e in events]
    for app in apps:
        for topic in TOPICS:
            ref = "0x" + compute_ref(app.digest, topic).hex()
            assert refs.count(ref) == 1, f"{app.id} {topic}: {refs.count(ref)} attestations"
    listed = world.svc.operator.call("kyc_list", None, 0, 1000)
    applicants = [r["applicant"] for r in listed]
    assert len(applicants) == len(set(applicants)), "an application was stored twice"
    assert {a.id for a in apps} <= {r["id"] for r in listed}, "an acknowledged application was lost"


@pytest.mark.parametrize("point", ["after_submit", "after_store", "after_send", "before_mark"])
def test_sigkill_at_each_step(world, point):
    svc = world.svc
    svc.start(env={FAILPOINTS_ENV: point})
    svc.wait_ready()
    app = _application(svc, ["after_submit", "after_store", "after_send", "before_mark"].index(point))
    if point == "after_submit":
        with pytest.raises(TransportError):
            svc.client.call("kyc_submit", app.to_json())
    else:
        assert svc.client.call("kyc_submit", app.to_json())["state"] == "pending"
        if point == "before_mark":
            svc.operator.call("kyc_approve", app.id)  # answered; the watcher dies before marking it
        else:
            with pytest.raises(TransportError):
                svc.operator.call("kyc_approve", app.id)
    assert svc.wait_exit(20) == -9, f"the failpoint {point} did not kill the service"
    svc.start()
    svc.wait_ready()
    with pytest.raises(RpcCallError) as info:
        svc.client.call("kyc_submit", app.to_json())
    assert info.value.reason == "application_replay"  # stored once, whatever the crash
    if point == "after_submit":
        assert svc.client.application(app.id)["state"] == "pending"
        svc.operator.call("kyc_approve", app.id)
    rec = _wait(svc, app.id, "attested")
    assert all(e["status"] == "committed" for e in rec["attest"])
    with pytest.raises(RpcCallError) as info:
        svc.operator.call("kyc_approve", app.id)
    assert info.value.reason == "bad_state"
    _assert_once(world, [app])
    svc.stop()


def test_random_sigkills_during_a_stream_of_applications(world):
    svc, rng = world.svc, random.Random(13)
    svc.start()
    svc.wait_ready()
    apps = [_application(svc, 100 + i) for i in range(8)]
    kills: list[float] = []

    def killer() -> None:
        # Kills land during submissions, approvals and the settling of sent attestations alike.
        while len(kills) < 5:
            time.sleep(rng.uniform(0.05, 0.5))
            svc.kill()
            kills.append(time.monotonic())
            svc.start()
            try:
                svc.wait_ready()
            except (RuntimeError, TimeoutError):
                break

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        for app in apps:
            while time.monotonic() < deadline:
                try:
                    state = svc.client.call("kyc_submit", app.to_json())["state"]
                except RpcCallError as exc:
                    assert exc.reason == "application_replay", exc
                    state = svc.client.application(app.id)["state"]
                except TransportError:
                    time.sleep(0.05)
                    continue
                if state != "pending":
                    break
                try:
                    svc.operator.call("kyc_approve", app.id)
                    break
                except RpcCallError as exc:
                    assert exc.reason == "bad_state", exc  # a crash already stored the approval
                    break
                except TransportError:
                    time.sleep(0.05)
    finally:
        thread.join(60)
    assert len(kills) == 5, "the killer stopped early"
    if not svc.is_running():
        svc.start()
    svc.wait_ready()
    for app in apps:
        if svc.client.application(app.id)["state"] == "pending":
            svc.operator.call("kyc_approve", app.id)
        _wait(svc, app.id, "attested", 30)
    _assert_once(world, apps)
    svc.stop()
