"""A rerun into an evaluation directory with other env settings is refused, naming the field, so
episodes of different horizons are never pooled into one success rate (issue #18, finding 5)."""

from __future__ import annotations

import pytest
from roboact.sim_workers.eval import evaluate

pytestmark = [pytest.mark.ray, pytest.mark.sim]


def _run(run_dir, episodes, max_steps):
    return evaluate("kitchen", "slide", "zero", episodes, max_steps=max_steps, workers=1, run_dir=run_dir,
                    videos=0, image_size=0)  # fmt: skip


@pytest.mark.timeout(300)
def test_other_horizon_is_refused_and_the_same_settings_resume(ray_session, tmp_path):
    first = _run(tmp_path, 1, 5)
    assert first["ran"] == 1
    with pytest.raises(ValueError, match=r"env.max_steps 5 -> 6"):
        _run(tmp_path, 2, 6)
    again = _run(tmp_path, 2, 5)  # the saved settings: only the new episode runs
    assert again["ran"] == 1 and again["episodes"] == 2
