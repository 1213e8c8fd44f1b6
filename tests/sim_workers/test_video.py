"""mp4 writing round-trips through PyAV."""

from __future__ import annotations

import av
import numpy as np
import pytest
from roboact.sim_workers.video import write_mp4


def test_mp4_has_every_frame_at_even_size(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (12, 31, 33, 3), dtype=np.uint8)
    path = write_mp4(frames, tmp_path / "v.mp4", fps=10)
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == 12 and decoded[0].shape == (32, 34, 3)


def test_bad_frames_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="v.mp4"):
        write_mp4(np.zeros((3, 8, 8)), tmp_path / "v.mp4")
