"""Train/val/test splits of a clip store, by execution: random (stratified by action) and held-out subject.

Why by execution: one execution (a simulated episode, an RH20T recording, a BridgeData trajectory)
gives several clips, one per camera, that show the same motion at the same instants. Split by clip,
a test clip's sibling view sits in train and the test part measures recall of a seen trajectory,
not generalisation (issue #15). Every split here keeps all clips of one execution in one part.

The execution id of a clip (its ``episode``) is written by the source at build time
(``provenance["episode"]``). Stores built before that field existed get it derived from what they
do hold (``episode_of``): the simulated clip id without its camera suffix, the RH20T scene folder,
the Bridge trajectory folder; a clip with none of these is its own execution, and ``clip_episodes``
says so in a warning naming the store.

The held-out subject split is the cross-embodiment zero-shot setting the paper does not report:
train on every robot but one, test on that one. It must never leak the held-out subject into
training, which is why it is computed from labels and checked, not hand-listed.

``write_default_splits`` is the finishing step of every build: it first sorts the vocabularies
(class ids must not depend on the order in which parallel workers delivered clips), then writes
``random`` and one ``heldout_<subject>`` split per subject.
"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from typing import Any

from roboact.datasets.stores import ClipStore, StoreError

from roboact.constants import FACTORS

logger = logging.getLogger(__name__)

DEFAULT_SPLIT = "random"


def episode_of(clip_id: str, provenance: dict[str, Any]) -> str | None:
    """The execution a clip comes from, from its provenance; None when nothing names one.

    Order: the ``episode`` field sources write today; then, for stores built before it, the
    simulated clip id without ``-<camera>``, RH20T's ``scene_dir`` (``rh20t_<group>_<scene>``, the
    clip id without ``_cam_<serial>``), Bridge's trajectory (the clip id without ``__<camera>``).
    """
    if provenance.get("episode"):
        return str(provenance["episode"])
    camera = str(provenance.get("camera", ""))
    if clip_id.startswith("sim-") and camera and clip_id.endswith(f"-{camera}"):
        return clip_id[: -len(camera) - 1]
    if provenance.get("scene_dir") and camera and clip_id.endswith(f"_cam_{camera}"):
        return clip_id[: -len(camera) - len("_cam_")]
    if provenance.get("trajectory"):  # Bridge: ids of views other than images0 end in __<camera>
        suffix = f"__{camera}"
        return clip_id[: -len(suffix)] if camera != "images0" and clip_id.endswith(suffix) else clip_id
    return None


def clip_episodes(store: ClipStore) -> dict[str, str]:
    """Clip id -> execution id for every complete clip (a clip naming none is its own execution)."""
    out: dict[str, str] = {}
    alone: list[str] = []
    for record in store.iter_records():
        episode = episode_of(record.clip_id, record.provenance)
        if episode is None:
            alone.append(record.clip_id)
            episode = record.clip_id
        out[record.clip_id] = episode
    if alone:
        logger.warning(
            "%s: %d clip(s) name no execution (e.g. %s); each counts as its own execution, so their "
            "sibling views (if any) are not kept together: rebuild the store to record episodes",
            store.path,
            len(alone),
            alone[:3],
        )
    return out


def clip_table(store: ClipStore) -> list[dict[str, str]]:
    """One row per clip: ``id``, ``episode``, ``subject``, ``action``, ``object``, ``camera``."""
    episodes = clip_episodes(store)
    return [
        {
            "id": r.clip_id,
            "episode": episodes[r.clip_id],
            "subject": r.subject,
            "action": r.action,
            "object": r.object,
            "camera": str(r.provenance.get("camera", "")),
        }
        for r in store.iter_records()
    ]


def _groups(store: ClipStore, ids: list[str] | None = None) -> dict[str, list[str]]:
    """Execution id -> its clip ids (sorted), over ``ids`` (default: every clip)."""
    episodes = clip_episodes(store)
    groups: dict[str, list[str]] = defaultdict(list)
    for clip_id in sorted(episodes if ids is None else ids):
        groups[episodes[clip_id]].append(clip_id)
    return dict(groups)


def _check_fractions(val: float, test: float = 0.0) -> None:
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise ValueError(f"val={val}, test={test}: fractions must be in [0, 1) and sum below 1")


def _by_action(store: ClipStore, groups: dict[str, list[str]]) -> dict[str, list[str]]:
    """Action name -> executions; an execution whose clips disagree goes under its most common action."""
    by_action: dict[str, list[str]] = defaultdict(list)
    for episode, clip_ids in groups.items():
        actions = Counter(store.get(c, with_frames=False).action for c in clip_ids)
        by_action[min(actions, key=lambda a: (-actions[a], a))].append(episode)
    return dict(by_action)


def _allocate(
    by_action: dict[str, list[str]], fractions: dict[str, float], rng: random.Random
) -> dict[str, list[str]]:
    """Executions per part, stratified by action; ``fractions`` lists the non-train parts in order.

    Per action: shuffle, take ``round(n * fraction)`` executions for each part, shrinking the later
    parts first so the action keeps one training execution. A part asked for but left empty by the
    rounding (a tiny store) then gets one execution from the action with the most to spare, ties to
    the first name, never an action's last training execution.
    """
    order: dict[str, list[str]] = {}
    counts: dict[str, dict[str, int]] = {}
    for action in sorted(by_action):  # by name: class ids must not decide the split
        episodes = sorted(by_action[action])
        rng.shuffle(episodes)
        want = {p: int(round(len(episodes) * f)) for p, f in fractions.items()}
        for part in reversed(list(fractions)):
            excess = sum(want.values()) - (len(episodes) - 1)
            if excess > 0:
                want[part] -= min(excess, want[part])
        order[action], counts[action] = episodes, want
    for part, fraction in fractions.items():
        if fraction > 0 and not any(c[part] for c in counts.values()):
            spare = {a: len(order[a]) - 1 - sum(counts[a].values()) for a in order}
            donor = max(sorted(spare), key=lambda a: spare[a], default=None)
            if donor is not None and spare[donor] > 0:
                counts[donor][part] += 1
    out: dict[str, list[str]] = {p: [] for p in (*fractions, "train")}
    for action, episodes in order.items():
        k = 0
        for part in fractions:
            out[part] += episodes[k : k + counts[action][part]]
            k += counts[action][part]
        out["train"] += episodes[k:]
    return out


def random_split(
    store: ClipStore, seed: int = 0, val: float = 0.15, test: float = 0.15
) -> dict[str, list[str]]:
    """Executions stratified by action; every action keeps a training execution; deterministic for a seed.

    Fractions count executions, so a part's clip share follows when executions have the same
    number of views. A part with a positive fraction is never empty while some action has an
    execution to spare (see ``_allocate``).
    """
    _check_fractions(val, test)
    groups = _groups(store)
    chosen = _allocate(_by_action(store, groups), {"test": test, "val": val}, random.Random(seed))
    return {p: sorted(c for e in eps for c in groups[e]) for p, eps in chosen.items()}


def heldout_subject_split(
    store: ClipStore, subject: str, seed: int = 0, val: float = 0.15
) -> dict[str, list[str]]:
    """Test = every clip of ``subject``; train/val = the other subjects' executions, stratified by action."""
    _check_fractions(val)
    names = store.vocab("subject")
    if subject not in names:
        raise StoreError(f"{store.path}: no subject {subject!r} to hold out (have {names})")
    subjects = {i: store.get(i, with_frames=False).subject for i in store.ids()}
    test = [i for i, s in subjects.items() if s == subject]
    groups = _groups(store, [i for i, s in subjects.items() if s != subject])
    chosen = _allocate(_by_action(store, groups), {"val": val}, random.Random(seed))
    parts = {p: sorted(c for e in eps for c in groups[e]) for p, eps in chosen.items()}
    return {"train": parts["train"], "val": parts["val"], "test": sorted(test)}


def shared_episodes(parts: dict[str, list[str]], episodes: dict[str, str]) -> dict[str, list[str]]:
    """Executions whose clips sit in more than one part of a split: execution -> parts (empty = clean)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for part, ids in parts.items():
        for clip_id in ids:
            seen[episodes.get(clip_id, clip_id)].add(part)
    return {e: sorted(p) for e, p in sorted(seen.items()) if len(p) > 1}


def sort_vocabularies(store: ClipStore) -> bool:
    """Sort each factor's class names and renumber every clip's class ids; True when anything changed.

    Why: the store appends a class name when its first clip arrives, and clips arrive in whatever
    order the parallel workers finish, so two builds of one config numbered their classes
    differently (issue #18). Ids are recomputed from each clip's stored class *name*, so a rerun
    repairs a store interrupted half-way through this.
    """
    clips = store.h5["clips"] if "clips" in store.h5 else {}
    names = {f: sorted({str(clips[i].attrs[f"{f}_name"]) for i in store.ids()}) for f in FACTORS}
    current = store.vocabs()
    index = {f: {n: k for k, n in enumerate(names[f])} for f in FACTORS}
    stale = [
        i
        for i in store.ids()
        if any(int(clips[i].attrs[f]) != index[f][str(clips[i].attrs[f"{f}_name"])] for f in FACTORS)
    ]
    if current == names and not stale:
        return False
    store.set_vocab(names)
    for clip_id in stale:
        for f in FACTORS:
            clips[clip_id].attrs[f] = index[f][str(clips[clip_id].attrs[f"{f}_name"])]
    store.h5.flush()
    logger.info("%s: vocabularies sorted; %d clip(s) renumbered", store.path, len(stale))
    return True


def write_default_splits(store: ClipStore, seed: int = 0) -> list[str]:
    """Sort the vocabularies, then write ``random`` and one ``heldout_<subject>`` split per subject."""
    sort_vocabularies(store)
    written = [DEFAULT_SPLIT]
    store.set_split(DEFAULT_SPLIT, random_split(store, seed=seed))
    subjects = store.vocab("subject")
    if len(subjects) > 1:
        for subject in subjects:
            name = f"heldout_{subject.replace(' ', '_')}"
            store.set_split(name, heldout_subject_split(store, subject, seed=seed))
            written.append(name)
    return written
