"""Prometheus metrics of one node (docs/operations.md, "Metrics").

Every metric lives in a `CollectorRegistry` the daemon makes and passes in, never in
prometheus_client's global one: several nodes may run in one process (tests), each with
its own. Two kinds of metric:

* pushed (`instruments`): histograms and counters observed per block, per WAL fsync or per
  RPC call by the code that does the work;
* read at scrape time (`readings`): gauges and counters that the node already keeps as plain
  numbers (height, mempool size, per-peer bytes, votes received), so that the hot paths pay
  nothing for them and labels of disconnected peers vanish by themselves.
"""
