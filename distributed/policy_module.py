"""Where checkpoints written before ``roboact.policies`` existed (2026-12-05) find their head class.

RLlib pickles a module's class path into each checkpoint (``class_and_ctor_args.pkl``), and
those name ``roboact.distributed.policy_module.PolicyHeadModule``; the class itself now lives in
``roboact.policies.module``. New checkpoints name the new path.
"""

from roboact.policies.module import DEFAULT_MODEL_CONFIG, PolicyHeadModule, build_mlp

__all__ = ["DEFAULT_MODEL_CONFIG", "PolicyHeadModule", "build_mlp"]
