"""Inference for policies, used alike by the simulator pool (``sim_workers``) and the arm (``hardware``).

- ``protocol``: the ``Policy`` protocol (``reset``/``act``) every runner calls;
- ``features``: the frozen encoder a head sees through (``FeatureSpec``, ``FeatureExtractor``);
- ``normaliser``: the head's input standardisation and action scaling;
- ``module``: the head itself (an RLlib ``TorchRLModule``);
- ``checkpoint``: the checkpoint format, ``read_policy_meta`` and ``load_checkpoint``.

Training lives in ``roboact.distributed.policy``; nothing here imports it, so the runners load a
head without the trainer (and the import graph has no loop through the subsystems).
"""

from roboact.policies.checkpoint import HeadPolicy, load_checkpoint, read_policy_meta
from roboact.policies.features import FeatureExtractor, FeatureSpec
from roboact.policies.normaliser import Normaliser
from roboact.policies.protocol import Policy, needs_env

__all__ = [
    "FeatureExtractor",
    "FeatureSpec",
    "HeadPolicy",
    "Normaliser",
    "Policy",
    "load_checkpoint",
    "needs_env",
    "read_policy_meta",
]
