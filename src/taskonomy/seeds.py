"""The one seed policy: every seed of a run is derived from the run's seed and names."""

from __future__ import annotations

import numpy as np


def derived_seed(seed: int, *names: str) -> int:
    """A 32-bit seed from the run's seed and names (e.g. a target and its sources).

    Hashed with :class:`numpy.random.SeedSequence`, so it is the same in every process and
    on every machine, and only the names given enter it.
    """
    words = [seed, *(ord(ch) for ch in "|".join(names))]
    return int(np.random.SeedSequence(words).generate_state(1)[0])
