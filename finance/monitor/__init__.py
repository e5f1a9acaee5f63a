"""Transaction monitoring: a process that follows committed blocks and raises AML alerts (docs/monitoring.md)."""
