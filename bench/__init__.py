"""bench: a benchmark harness for data pruning (Sorscher et al. 2022, "Beyond neural scaling laws").

Pipeline of one run: data -> score -> select -> train -> record; `bench.collect` reads the records.
"""

__version__ = "0.1.0"
