"""`finchain devnet chaos`: runs of a bank workload on a fresh cluster under a nemesis, each judged by the
checker.

    finchain devnet chaos --runs 10 --seed 7 --duration 90s --validators 4 [--byzantine 1] [--out DIR]
    finchain devnet chaos --replay DIR/run-003.json

One run: a fresh cluster (4 validators at 300 ms blocks by default, 50 funded accounts), the bank workload
(devnet/bank.py) and a sampler of every node's proposers, a schedule of faults drawn from the run's seed
(devnet/nemesis.py) played for `--duration`; then everything is healed (network faults cleared, paused nodes
resumed, stopped ones started), the run waits for a new commit (liveness: within 30 s of the heal, the time
taken is the recovery time) and for every node to reach the same height, and the checker (devnet/checker.py)
judges the chains and the history. The run's seed, schedule, what the nemesis did, the history and the
verdict are written to `<out>/run-NNN.json`; a failing run also prints every node's log tail and
`consensus_state`, and keeps its cluster folder. With `--byzantine K`, the last K validators run as byzantine
processes (devnet/byzantine_validator.py) for the whole run, and the nemesis only hits them: f is spent on
them, and a fault of one more node could break safety by right, which would prove nothing.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devnet import nemesis
from devnet.bank import Bank
from devnet.byzantine_validator import ALL_MODES, ByzantineProcess
from devnet.checker import ChainFacts, verdict
from devnet.cluster import Cluster
from devnet.errors import DevnetError
from node.client.sdk import Client, RpcCallError, TransportError
from node.types.genesis import load_genesis

LIVENESS_S = 30.0
CATCH_UP_S = 45.0
ACK_DRAIN_S = 2.0  # the last polls for acknowledgements; a send never seen committed is judged anyway


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    runs: int = 1
    seed: int = 1
    duration_s: float = 90.0
    validators: int = 4
    byzantine: int = 0
    accounts: int = 50
    rate: float = 20.0
    block_ms: int = 300
    beyond_f: bool = True
    out: Path = Path("chaos-out")
    keep: bool = False  # keep the cluster folders of passing runs too
    byzantine_modes: tuple[str, ...] = ALL_MODES
    byzantine_phase_s: float = 6.0  # seconds per byzantine mode
    nemesis: bool = True  # False: no faults but the byzantine validators'


@dataclass(slots=True)
class RunTarget:
    """The nemesis's view of a run: the cluster, with the byzantine validators' processes in their nodes' place."""

    cluster: Cluster
    byzantine: dict[int, ByzantineProcess]
    paused: set[int] = field(default_factory=set)

    def kill(self, i: int) -> None:
        if i in self.byzantine:
            self.byzantine[i].kill()
        else:
            self.cluster.kill(i)
        self.paused.discard(i)

    def start(self, i: int, timeout: float = 30.0) -> None:
        if i in self.byzantine:
            self.byzantine[i].start_and_wait(timeout)
        else:
            self.cluster.start(i, timeout)

    def restart(self, i: int, timeout: float = 30.0) -> None:
        if i in self.byzantine:
            self.byzantine[i].stop()
            self.byzantine[i].start_and_wait(timeout)
        else:
            self.cluster.restart(i, timeout)

    def pause(self, i: int) -> None:
        if i in self.byzantine:
            self.byzantine[i].pause()
        else:
            self.cluster.pause(i)
        self.paused.add(i)

    def resume(self, i: int) -> None:
        if i in self.byzantine:
            self.byzantine[i].resume()
        else:
            self.cluster.resume(i)
        self.paused.discard(i)

    def partition(self, *groups: Sequence[int]) -> None:
        self.cluster.partition(*groups)

    def cut(self, pairs: Sequence[tuple[int, int]]) -> None:
        self.cluster.cut(pairs)

    def heal(self) -> None:
        self.cluster.heal()

    def delay(self, i: int, ms: int, jitter_ms: int = 0) -> None:
        self.cluster.delay(i, ms, jitter_ms)

    def drop(self, i: int, percent: float) -> None:
        self.cluster.drop(i, percent)

    def heal_all(self) -> None:
        """Clear network faults, resume what is paused, start what is down."""
        self.cluster.heal()
        for i in sorted(self.paused):
            self.resume(i)
        for n in self.cluster.nodes:
            if n.index in self.byzantine:
                if not self.byzantine[n.index].is_running():
                    self.byzantine[n.index].start_and_wait(30)
            elif not n.is_running():
                self.cluster.start(n.index)


class ProposerSampler(threading.Thread):
    """height -> node -> the proposers it names for rounds 0..7, read from every honest node every 100 ms."""

    def __init__(self, nodes: dict[str, str]) -> None:
        super().__init__(daemon=True, name="chaos-sampler")
        self.clients = {name: Client(url, timeout=0.5) for name, url in nodes.items()}
        self.seen: dict[int, dict[str, list[str]]] = {}
        self.samples = 0
        self.stop_flag = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.wait(0.1):
            for name, client in self.clients.items():
                try:
                    state = client.consensus_state()
                except (RpcCallError, TransportError):
                    continue  # paused or down: that is the point
                if state.get("height") is None:
                    continue
                self.seen.setdefault(state["height"], {})[name] = list(state["round_proposers"])
                self.samples += 1


def run_seed(seed: int, index: int) -> int:
    """The seed of run `index` of a campaign: its schedule and workload depend on nothing else."""
    return random.Random(f"{seed}/{index}").getrandbits(32)


def run_one(opts: ChaosOptions, index: int, schedule: list[nemesis.Episode] | None = None,
            seed: int | None = None) -> dict[str, Any]:
    """One run; returns its record (also written to `<out>/run-NNN.json`)."""
    seed = run_seed(opts.seed, index) if seed is None else seed
    rng = random.Random(seed)
    byz_nodes = list(range(opts.validators - opts.byzantine, opts.validators))
    if schedule is None and not opts.nemesis:
        schedule = []
    if schedule is None:
        schedule = nemesis.draw_schedule(rng, opts.duration_s, opts.validators, beyond_f=opts.beyond_f,
                                         targets=byz_nodes or None)
    workdir = opts.out / f"run-{index:03d}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    record: dict[str, Any] = {"run": index, "seed": seed, "campaign_seed": opts.seed, "validators": opts.validators,
                              "byzantine": byz_nodes, "duration_s": opts.duration_s,
                              "schedule": [e.to_json() for e in schedule], "events": []}
    started_wall = time.monotonic()
    timings: dict[str, float] = {}
    record["timings_s"] = timings
    with Cluster(validators=opts.validators, block_time_ms=opts.block_ms, base_dir=workdir, accounts=opts.accounts,
                 seed=f"chaos {seed}") as c:
        byz = {i: ByzantineProcess(c.dir, c.node(i).name, opts.byzantine_modes, workdir / f"byzantine-{i}.log",
                                 opts.byzantine_phase_s)
               for i in byz_nodes}
        target = RunTarget(c, byz)
        timings["start"] = round(time.monotonic() - started_wall, 1)
        try:
            record.update(_drive(opts, c, target, schedule, rng, record))
        except Exception as exc:
            record["verdict"] = {"ok": False, "failed": ["run"], "checks": {"run": [f"{type(exc).__name__}: {exc}"]}}
        finally:
            for p in byz.values():
                p.stop()
        if not record["verdict"]["ok"]:
            c.print_logs(f"chaos run {index} (seed {seed}) failed: {', '.join(record['verdict']['failed'])}")
            for i, p in byz.items():
                print(f"---- byzantine {c.node(i).name} {p.log_path}\n{p.log_tail(30)}", file=sys.stderr)
    record["seconds"] = round(time.monotonic() - started_wall, 1)
    path = opts.out / f"run-{index:03d}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    if record["verdict"]["ok"] and not opts.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return record


def _drive(opts: ChaosOptions, c: Cluster, target: RunTarget, schedule: list[nemesis.Episode],
           rng: random.Random, record: dict[str, Any]) -> dict[str, Any]:
    genesis = load_genesis(c.node(0).home / "config" / "genesis.json")
    byz_addresses = frozenset(genesis.validators[i].address for i in target.byzantine)
    for i, p in target.byzantine.items():
        c.stop(i)
        p.start_and_wait(30)
    honest = [n for n in c.nodes if n.index not in target.byzantine]
    contracts = list((c.manifest.contracts or {}).values()) if c.manifest else []
    facts = ChainFacts(genesis.chain_id, {v.address: v.power for v in genesis.validators},
                       tuple(c.ledger_addresses + contracts), c.genesis_total, byz_addresses)
    sampler = ProposerSampler({n.name: n.rpc_url for n in honest})
    bank = Bank(c.accounts, c.chain_id, lambda: [(n.index, n.rpc_url) for n in c.nodes
                                                 if n.is_serving() and n.index not in target.paused],
                random.Random(rng.getrandbits(64)), rate=opts.rate)
    events: list[dict[str, Any]] = record["events"]
    started = time.monotonic()
    bank.started = started
    sampler.start()
    bank.start()
    try:
        nemesis.play(target, schedule, opts.validators, started, events.append)
        left = started + opts.duration_s - time.monotonic()
        if left > 0:
            time.sleep(left)
    finally:
        bank.stop()
    target.heal_all()
    healed = time.monotonic()
    heights = c.heights([n.index for n in honest])
    at_heal = max((h for h in heights.values() if h is not None), default=0)
    events.append({"at_s": round(healed - started, 3), "op": "heal", "heights": heights})
    recovery = _wait_new_commit(c, [n.index for n in honest], at_heal, LIVENESS_S)
    problems: list[str] = []
    if recovery is None:
        problems.append(f"no new commit within {LIVENESS_S:g} s of the heal (height {at_heal} then)")
    try:
        c.wait_height(max(at_heal, c.height()) + 2, timeout=CATCH_UP_S, nodes=[n.index for n in honest])
    except TimeoutError as exc:
        problems.append(f"not every node caught up after the heal: {exc}")
    deadline = time.monotonic() + ACK_DRAIN_S
    while bank.poll_once() and time.monotonic() < deadline:
        time.sleep(0.3)
    sampler.stop_flag.set()
    sampler.join(5)
    record["timings_s"]["healed"] = round(time.monotonic() - healed, 1)
    checking = time.monotonic()
    v = verdict({n.name: n.rpc_url for n in honest}, facts, bank.snapshot(), sampler.seen)
    v.checks["liveness"] = problems
    if byz_addresses and "equivocate" in opts.byzantine_modes and not v.stats["evidence"]["committed"]:
        v.checks["byzantine"] = ["the byzantine validator equivocated but no evidence was committed"]
    v.stats["proposer_samples"] = sampler.samples
    record["timings_s"]["check"] = round(time.monotonic() - checking, 1)
    return {"verdict": v.to_json(), "history": bank.snapshot(), "recovery_s": recovery,
            "heal_height": at_heal, "byzantine_log": {str(i): p.summary() for i, p in target.byzantine.items()},
            "byzantine_node_ids": {str(i): c.node(i).node_id for i in target.byzantine},
            "bans": bans_of(c, honest) if target.byzantine else {}}


def bans_of(c: Cluster, nodes: Sequence[Any]) -> dict[str, list[str]]:
    """Node name -> the node ids it bans now (`net_peers`)."""
    out = {}
    for n in nodes:
        try:
            out[n.name] = [b["node_id"] for b in n.client.call("net_peers")["banned"]]
        except (RpcCallError, TransportError) as exc:
            out[n.name] = [f"unavailable: {exc}"]
    return out


def _wait_new_commit(c: Cluster, nodes: list[int], height: int, timeout: float) -> float | None:
    """Seconds until some node of `nodes` commits above `height`, or None after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if c.height(nodes) > height:
            return round(time.monotonic() - start, 2)
        time.sleep(0.05)
    return None


# -- campaigns ------------------------------------------------------------------------------------------


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    kinds: Counter[str] = Counter()
    for r in records:
        kinds.update(e["kind"] for e in r["schedule"])
    recoveries = [r["recovery_s"] for r in records if r.get("recovery_s") is not None]
    hist = [r["verdict"].get("stats", {}).get("history", {}) for r in records]
    return {
        "runs": len(records), "passed": sum(r["verdict"]["ok"] for r in records),
        "failed_runs": [{"run": r["run"], "seed": r["seed"], "failed": r["verdict"]["failed"]}
                        for r in records if not r["verdict"]["ok"]],
        "faults_by_kind": dict(sorted(kinds.items())), "faults": sum(kinds.values()),
        "runs_beyond_f": sum(any(e["beyond_f"] for e in r["schedule"]) for r in records),
        "sent": sum(h.get("sent", 0) for h in hist), "admitted": sum(h.get("admitted", 0) for h in hist),
        "acknowledged": sum(h.get("acknowledged", 0) for h in hist),
        "committed": sum(r["verdict"].get("stats", {}).get("txs_committed", 0) for r in records),
        "recovery_median_s": statistics.median(recoveries) if recoveries else None,
        "recovery_worst_s": max(recoveries) if recoveries else None,
        "evidence_committed": sum(r["verdict"].get("stats", {}).get("evidence", {}).get("committed", 0)
                                  for r in records),
        # Runs with byzantine validators in which every honest node ended up banning each of them.
        "byzantine_runs": sum(bool(r.get("byzantine")) for r in records),
        "byzantine_banned_everywhere": sum(
            bool(r.get("bans")) and all(all(nid in banned for nid in r.get("byzantine_node_ids", {}).values())
                                        for banned in r["bans"].values()) for r in records),
    }


def progress_line(r: dict[str, Any], total: int) -> str:
    v = r["verdict"]
    h = v.get("stats", {}).get("history", {})
    kinds = Counter(e["kind"] for e in r["schedule"])
    return (f"run {r['run'] + 1}/{total} seed {r['seed']}: {'PASS' if v['ok'] else 'FAIL ' + ','.join(v['failed'])}"
            f"  height {v.get('height', '-')}  acked {h.get('acknowledged', 0)}/{h.get('admitted', 0)}"
            f"  recovery {r.get('recovery_s')} s  faults " + " ".join(f"{k}x{n}" for k, n in sorted(kinds.items()))
            + f"  ({r.get('seconds')} s)")


def print_summary(records: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    cols = ("run", "seed", "verdict", "height", "acked", "recovery_s", "faults")
    rows = []
    for r in records:
        v = r["verdict"]
        rows.append((str(r["run"]), str(r["seed"]), "pass" if v["ok"] else "FAIL " + ",".join(v["failed"]),
                     str(v.get("height", "-")), str(v.get("stats", {}).get("history", {}).get("acknowledged", 0)),
                     str(r.get("recovery_s")), str(len(r["schedule"]))))
    widths = [max(len(c), *(len(row[k]) for row in rows)) for k, c in enumerate(cols)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)))
    for row in rows:
        print("  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)))
    print(f"\n{summary['passed']}/{summary['runs']} runs passed; {summary['faults']} faults "
          f"({', '.join(f'{k} {n}' for k, n in summary['faults_by_kind'].items())}); {summary['runs_beyond_f']} runs "
          f"beyond f; {summary['acknowledged']} acknowledged of {summary['admitted']} admitted transfers; recovery "
          f"after heal median {summary['recovery_median_s']} s, worst {summary['recovery_worst_s']} s")


def campaign(opts: ChaosOptions, replay: Path | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    opts.out.mkdir(parents=True, exist_ok=True)
    records = []
    if replay is not None:
        old = load_run(replay)
        schedule = [nemesis.Episode.from_json(e) for e in old["schedule"]]
        r = run_one(opts, int(old["run"]), schedule, seed=int(old["seed"]))
        print(progress_line(r, 1), flush=True)
        records.append(r)
    else:
        for i in range(opts.runs):
            r = run_one(opts, i)
            print(progress_line(r, opts.runs), flush=True)
            records.append(r)
    summary = summarize(records)
    (opts.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return records, summary


def load_run(path: Path) -> dict[str, Any]:
    try:
        d = json.loads(path.read_text())
        _ = d["schedule"], d["seed"], d["run"]
        return d
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DevnetError(f"{path} is not a chaos run record: {exc}") from exc


def options_for_replay(opts: ChaosOptions, path: Path) -> ChaosOptions:
    """A replay keeps the recorded run's shape (validators, duration, byzantine count)."""
    old = load_run(path)
    return replace(opts, validators=int(old["validators"]), duration_s=float(old["duration_s"]),
                   byzantine=len(old.get("byzantine", [])), seed=int(old.get("campaign_seed", opts.seed)))


# -- the command --------------------------------------------------------------------------------------


def parse_seconds(text: str) -> float:
    t = text.strip().lower()
    try:
        if t.endswith("ms"):
            return float(t[:-2]) / 1000
        return float(t.removesuffix("s"))
    except ValueError as exc:
        raise DevnetError(f"not a duration: {text!r} (e.g. 90s)") from exc


def cmd_chaos(args: Any) -> None:
    opts = ChaosOptions(runs=args.runs, seed=args.seed, duration_s=parse_seconds(args.duration),
                        validators=args.validators, byzantine=args.byzantine, accounts=args.accounts,
                        rate=args.rate, block_ms=args.block_time_ms, beyond_f=not args.within_f,
                        out=Path(args.out), keep=args.keep, nemesis=args.nemesis,
                        byzantine_phase_s=parse_seconds(args.byzantine_phase))
    replay = Path(args.replay) if args.replay else None
    if replay is not None:
        opts = options_for_replay(opts, replay)
    if opts.runs < 1 or opts.duration_s < 5 or opts.validators < 1:
        raise DevnetError("--runs at least 1, --duration at least 5s, --validators at least 1")
    if not 0 <= opts.byzantine <= nemesis.faults_allowed(opts.validators):
        raise DevnetError(f"--byzantine: at most f = {nemesis.faults_allowed(opts.validators)} of "
                          f"{opts.validators} validators")
    records, summary = campaign(opts, replay)
    print()
    print_summary(records, summary)
    print(f"records: {opts.out}/run-NNN.json, summary: {opts.out / 'summary.json'}")
    if summary["passed"] != summary["runs"]:
        raise DevnetError(f"{summary['runs'] - summary['passed']} of {summary['runs']} chaos runs failed "
                          f"(replay one with --replay {opts.out}/run-NNN.json)")


def add_chaos_command(dsub: Any) -> None:
    c = dsub.add_parser("chaos", help="runs of a bank workload under a nemesis on fresh clusters, each checked",
                        description=__doc__.split("\n\n")[1] if __doc__ else None)
    c.add_argument("--runs", type=int, default=1)
    c.add_argument("--seed", type=int, default=1, help="the campaign's seed: run i uses a seed derived from it")
    c.add_argument("--duration", default="90s", help="how long the nemesis plays in each run (default 90s)")
    c.add_argument("--validators", type=int, default=4)
    c.add_argument("--byzantine", type=int, default=0, help="validators run as byzantine processes (at most f)")
    c.add_argument("--byzantine-phase", default="6s", help="seconds per byzantine mode (default 6s)")
    c.add_argument("--no-nemesis", dest="nemesis", action="store_false",
                   help="no faults: only the byzantine validators misbehave")
    c.add_argument("--replay", help="a run record (run-NNN.json) whose seed and schedule to run again")
    c.add_argument("--out", default="chaos-out", help="folder for the run records (default chaos-out)")
    c.add_argument("--accounts", type=int, default=50, help="funded accounts of the bank workload (default 50)")
    c.add_argument("--rate", type=float, default=20.0, help="transfers per second sent (default 20)")
    c.add_argument("--block-time-ms", type=int, default=300)
    c.add_argument("--within-f", action="store_true", help="no episodes beyond f (liveness must hold throughout)")
    c.add_argument("--keep", action="store_true", help="keep the cluster folders of passing runs too")
    c.set_defaults(func=cmd_chaos)
