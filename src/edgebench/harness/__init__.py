"""The measurement harness: plans cells, runs each in its own process, and owns the clocks."""
