"""The one seed policy: every seed of a run is derived from the run's seed, a role and names.

A seed depends only on what the randomness it drives is *about*, never on
hyperparameters, so changing ``train.steps`` or a learning rate does not re-draw unrelated
randomness (a job's content key, which hashes every param, must not be used as a seed):

=====================  ==========================  =============================================
role                   names                       draws
=====================  ==========================  =============================================
``train-init``         task                        initial weights of the task network
``train-batches``      task                        its minibatch order
``pixels-init``        task                        initial weights of the small-data network
``pixels-batches``     task                        its minibatch order
``encoder-init``       ``random``                  the frozen random encoder (``random`` source)
``transfer-init``      target, sources...          initial weights of one transfer's readout
``transfer-batches``   target                      minibatch order of every transfer into target
=====================  ==========================  =============================================

The architecture is deliberately not a name: a change of architecture changes the weights'
shapes, hence every draw, anyway. The synthetic bank is rendered from the run's seed itself.
"""

from __future__ import annotations

import numpy as np


def derived_seed(seed: int, role: str, *names: str) -> int:
    """A 32-bit seed from the run's ``seed``, a ``role`` (see the table above) and names.

    Hashed with :class:`numpy.random.SeedSequence`: the same in every process and on every
    machine; only the seed, role and names given enter it.
    """
    words = [seed, *(ord(ch) for ch in "|".join((role, *names)))]
    return int(np.random.SeedSequence(words).generate_state(1)[0])
