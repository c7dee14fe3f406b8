"""edgebench: a benchmark suite for deep-learning inference compilers on edge hardware.

Importing this package loads no deep-learning framework; each compiler module imports its
runtime only when it is chosen.
"""

__version__ = "0.1.0"
