"""``roboact.cluster``: what its helpers may touch on a Ray cluster that other jobs share."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ray


@pytest.mark.timeout(120)
def test_releasing_leaked_placement_groups_leaves_other_jobs_groups_alone(ray_session) -> None:
    """The demo and the bench free leaked reservations between stages; in a ``ray job submit`` run
    the cluster's other placement groups are other users' running fits, which must survive."""
    from ray.util.placement_group import (
        PlacementGroup,
        placement_group,
        placement_group_table,
        remove_placement_group,
    )

    from roboact.cluster import release_leaked_placement_groups

    ray = ray_session
    ours = placement_group([{"CPU": 0.01}])
    ray.get(ours.ready(), timeout=60)
    other_job = (  # another driver on the same instance, its group outliving it as a running job's
        "import ray\nfrom ray.util.placement_group import placement_group\n"
        f"ray.init(address={ray.get_runtime_context().gcs_address!r}, log_to_driver=False)\n"
        "pg = placement_group([{'CPU': 0.01}], lifetime='detached')\n"
        "ray.get(pg.ready(), timeout=60)\nprint(pg.id.hex())\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", other_job], capture_output=True, text=True, timeout=100, env=dict(os.environ)
    )
    assert run.returncode == 0, run.stderr[-2000:]
    theirs = run.stdout.split()[-1]
    try:
        assert release_leaked_placement_groups() >= 1
        states = {pg_id: info["state"] for pg_id, info in placement_group_table().items()}
        assert states[ours.id.hex()] == "REMOVED"
        assert states[theirs] == "CREATED"
    finally:
        remove_placement_group(PlacementGroup(ray.PlacementGroupID(bytes.fromhex(theirs))))
