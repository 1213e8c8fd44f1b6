"""Every number this project copies from the RoboAct-CLIP paper, in one place.

Reports print these beside what we measure and label them "paper"; nothing here is computed.
Sources: Table I (dataset statistics), Sec. IV-A (recognition accuracy, text), Tables II-IV
(simulation success rates) and Table V (real JAKA arm), as printed in
``shared/paper/roboact-clip.txt``.
"""

from __future__ import annotations

# Table I: the paper's training data (RH20T + BridgeData V2 after Algorithm 1).
TABLE_I: dict[str, int] = {"videos": 199_797, "tasks": 143, "actions": 52, "frames": 63_922_209}

# Sec. IV-A (percent). Rows the paper does not report for a factor are absent.
RECOGNITION_SECTION = "Sec. IV-A"
RECOGNITION: dict[str, dict[str, float]] = {
    "16 frames": {"action": 99.49, "subject": 99.88, "object": 97.43},
    "w/o disentanglement": {"action": 73.74},
    "8 frames": {"action": 96.48, "subject": 99.30, "object": 95.10},
    "32 frames": {"action": 99.51, "subject": 99.91, "object": 97.60},
}

# (title, tasks, rows of (encoder, values..., overall or None)) exactly as printed in the paper.
PAPER_TABLES: list[tuple[str, list[str], list[tuple[str, list[float]]]]] = [
    (
        "Table II: LIBERO success rates (%), same downstream policy",
        ["T1", "T2", "T3", "T4", "Overall"],
        [
            ("R3M", [46.0, 80.0, 58.0, 52.0, 59.0]),
            ("MPI (Small)", [50.0, 74.0, 38.0, 66.0, 57.0]),
            ("MPI (Base)", [62.0, 70.0, 44.0, 82.0, 64.5]),
            ("CLIP", [86.0, 76.0, 22.0, 20.0, 51.0]),
            ("Robotic-CLIP", [88.0, 82.0, 38.0, 46.0, 63.5]),
            ("RoboAct-CLIP (Ours)", [90.0, 84.0, 56.0, 76.0, 76.5]),
            ("- w/o Spatiotemporal Diff-Transformer", [78.0, 72.0, 47.0, 53.0, 62.5]),
            ("- w/o Feature Disentanglement", [88.0, 76.0, 56.0, 60.0, 70.0]),
            ("- w/o Recombination Contrastive Loss", [85.0, 78.0, 53.0, 67.0, 70.8]),
            ("- w/o Auxiliary Classification Loss", [84.0, 80.0, 54.0, 74.0, 73.0]),
            ("- Shorter sequence (n=2)", [74.0, 69.0, 50.0, 62.0, 63.8]),
            ("- Only original CLIP frame features", [88.0, 79.0, 28.0, 32.0, 56.7]),
        ],
    ),
    (
        "Table III: unseen LIBERO tasks, success rates (%)",
        ["T5", "T6"],
        [
            ("R3M", [0.0, 0.0]),
            ("MPI (Small)", [0.0, 0.0]),
            ("MPI (Base)", [0.0, 0.0]),
            ("CLIP", [0.0, 0.0]),
            ("Robotic-CLIP", [0.0, 0.0]),
            ("RoboAct-CLIP (Ours)", [4.0, 16.0]),
        ],
    ),
    (
        "Table IV: Franka Kitchen success rates (%)",
        ["knob", "door", "switch", "micro", "slide", "Overall"],
        [
            ("R3M", [53.6, 49.8, 85.9, 58.7, 98.2, 69.2]),
            ("MPI (Small)", [84.1, 49.5, 88.8, 58.8, 99.4, 76.1]),
            ("MPI (Base)", [88.1, 57.1, 94.0, 54.1, 99.4, 78.5]),
            ("CLIP", [26.9, 12.0, 42.3, 25.1, 86.0, 38.5]),
            ("Robotic-CLIP", [76.0, 42.0, 86.0, 52.0, 94.0, 70.0]),
            ("RoboAct-CLIP (Ours)", [92.0, 68.0, 96.0, 66.0, 99.2, 84.2]),
        ],
    ),
]

# Table V (Sec. IV-D): the real JAKA arm, success rates in % per subtask, and the average column.
TABLE_V_SUBTASKS = ("Open (middle drawer)", "Pick (tape)", "Place (on table)", "Close (middle drawer)")
TABLE_V: dict[str, tuple[list[float], float]] = {
    "MPI(Base)": ([50.0, 46.7, 42.9, 33.3], 43.2),
    "CLIP": ([43.3, 30.8, 50.0, 0.0], 31.0),
    "Robotic-CLIP": ([53.3, 37.5, 50.0, 33.3], 43.5),
    "RoboAct-CLIP (Ours)": ([66.7, 60.0, 58.3, 71.4], 64.1),
}


def paper_row(table_key: str, row: str) -> dict[str, float]:
    """``{task: percent}`` of one row of Table II, III or IV (``table_key`` "II", "III", "IV")."""
    for title, cols, rows in PAPER_TABLES:
        if title.startswith(f"Table {table_key}:"):
            for name, values in rows:
                if name == row:
                    return dict(zip(cols, values, strict=True))
            raise KeyError(f"paper Table {table_key} has no row {row!r}")
    raise KeyError(f"no paper Table {table_key}")
