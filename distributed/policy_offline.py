"""RLlib's offline reader, reading in order with a seeded per-epoch shuffle: one BC ``seed``, one training.

Why a subclass: Ray Data's ``local_shuffle_seed`` is one iterator argument, and RLlib's
``OfflineData`` builds a fresh ``iter_batches`` iterator each time the data runs out, with the same
arguments. A fixed seed there would repeat one permutation every epoch; no seed (what
``shuffle_rows`` did before) made two trainings with the same ``seed`` differ. This reader seeds
epoch ``e`` with ``seed + e``: every epoch a new permutation, the same ones on every rerun.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.offline.offline_data import OfflineData

SEED_KEY = "local_shuffle_seed"


class SeededShuffleOfflineData(OfflineData):
    """``OfflineData`` that reads the demo files in order and reseeds its local shuffle (when
    configured) at each epoch's start.

    Why the order: there is one read task per demo file, and Ray Data hands their rows on in the
    order the tasks finish, which varies. Without ``preserve_order`` two BC trainings with one seed
    saw different minibatches in RLlib's own order too, and gave different heads (measured by
    ``test_a_second_training_with_the_same_seed_gives_the_same_head``: it failed with the plain
    reader); the shuffle's permutation would likewise apply to rows in a varying order.
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._seeded = "local_shuffle_buffer_size" in self.iter_batches_kwargs
        self._base_seed = int(config.seed or 0)
        self._epoch = 0
        self.data.context.execution_options.preserve_order = True

    def sample(self, num_samples: int, return_iterator: bool = False, num_shards: int = 1, **kwargs: Any):
        # RLlib sets batch_iterators to None when an epoch ends and calls sample() again.
        if self._seeded and self.batch_iterators is None:
            self.iter_batches_kwargs[SEED_KEY] = self._base_seed + self._epoch
            self._epoch += 1
        return super().sample(num_samples, return_iterator=return_iterator, num_shards=num_shards, **kwargs)
