"""finchain consensus: the pure Tendermint core (Algorithm 1 of "The latest gossip on BFT
consensus") and its types. Standard library only, no I/O: the host in `node` drives it.

- `types`: validators and proposer selection, messages, the closed input/output unions.
- `vote_keeper`: voting power per (round, type, value) for one height, thresholds, evidence.
- `state_machine`: `start_height` and `apply(state, input) -> (state, outputs)`.
"""
