"""Misbehaving peers for end-to-end tests, as real processes:

    python -m devnet.byzantine junk-precommits --home DEVNET_DIR [--duration 30]
    python -m devnet.byzantine validator --home DEVNET_DIR --as node3 [--modes equivocate,...] [--phase 6]

`junk-precommits` is a peer that is no validator, sending correctly signed precommits from a non-validator key
(devnet/junk_peer.py); `validator` runs a byzantine validator in a stopped node's place
(devnet/byzantine_validator.py). Each prints JSON lines to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from devnet.byzantine_validator import ALL_MODES, parse_modes
from devnet.byzantine_validator import serve as serve_validator
from devnet.errors import DevnetError
from devnet.junk_peer import JunkPrecommits, load_target


def _print_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devnet.byzantine", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="attack", required=True)
    junk = sub.add_parser("junk-precommits", help="precommits signed by a non-validator key, to every validator")
    junk.add_argument("--home", required=True, help="the devnet folder (holding devnet.json)")
    junk.add_argument("--duration", type=float, default=30.0, help="seconds to attack, then stop (default 30)")
    val = sub.add_parser("validator", help="a byzantine validator in a stopped validator's place")
    val.add_argument("--home", required=True, help="the devnet folder (holding devnet.json)")
    val.add_argument("--as", dest="name", required=True, help="the stopped validator to stand in for, e.g. node3")
    val.add_argument("--modes", default=",".join(ALL_MODES), help=f"comma-separated, in turn (default: all: "
                     f"{','.join(ALL_MODES)})")
    val.add_argument("--phase", type=float, default=6.0, help="seconds per mode (default 6)")
    args = parser.parse_args(argv)
    if args.attack == "validator":
        try:
            modes = parse_modes(args.modes)
            if not 0 < args.phase <= 3600:
                raise DevnetError("--phase: between 0 and 3600 seconds")
            asyncio.run(serve_validator(Path(args.home), args.name, modes, args.phase))
        except DevnetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if not 0 < args.duration <= 3600:
        parser.error("--duration: between 0 and 3600 seconds")
    try:
        validators, genesis = load_target(Path(args.home))
    except (DevnetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    attack = JunkPrecommits(validators, genesis.chain_id, genesis.hash(), args.duration, _print_json)
    asyncio.run(attack.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
