"""A labelled synthetic ledger for the monitor: the plan of ordinary traffic and planted typologies
(plan.py), the rules it was designed for (params.py) and the scorer of a monitor's alerts (score.py).
bench/aml_ledger.py replays a plan onto a devnet."""
