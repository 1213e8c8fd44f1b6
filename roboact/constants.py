"""Names shared across subsystems: label keys, split names, metric names."""

SUBJECT, ACTION, OBJECT = "subject", "action", "object"
FACTORS = (SUBJECT, ACTION, OBJECT)
SPLITS = ("train", "val", "test")


# Metric names are ``split/name`` (TensorBoard groups on the prefix).
def acc_metric(split: str, factor: str, source: str = "aux") -> str:
    """``val/action_acc`` for the auxiliary classifiers, ``val/action_acc_text`` for text matching."""
    return f"{split}/{factor}_acc" + ("" if source == "aux" else f"_{source}")
