"""``ray start`` for a worker node of a cluster on loopback only (tests/core/test_job_submit.py).

Why not the ``ray`` CLI as it is: with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (every address Ray picks
by itself stays 127.0.0.1) ``ray start --address`` refuses to join a cluster, and with it on, the CLI
rewrites the head's ``127.0.0.1`` to this machine's routable address (found by a socket towards a
public IP). Here the switch stays off for every process of the node, and only this CLI process is
told that joining is allowed and that the head's loopback address is the address to use.
"""

from __future__ import annotations

import sys

from ray._private import ray_constants, services

ray_constants.ENABLE_RAY_CLUSTER = True  # this process only: the join check
services.resolve_ip_for_localhost = lambda host: host  # the head listens on 127.0.0.1: keep it

from ray.scripts.scripts import main  # noqa: E402  (after the two settings above)

if __name__ == "__main__":
    sys.exit(main())
