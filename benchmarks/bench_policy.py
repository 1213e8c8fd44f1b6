"""Policy step latency on CPU: encoder + head, per feature spec, against the encoder alone.

One policy step = ``Policy.act(obs)``: encode the current 128 px frame, build the window
(RoboAct-CLIP's ``encode_video`` for ``roboact:`` specs), normalise, run the MLP head, unnormalise
and clip. The goal in the issue is >= 20 Hz on CPU. Heads are untrained (same cost as trained):
each is a fresh ``PolicyHeadModule`` saved as a real checkpoint and loaded with ``load_policy``,
so the measured path is exactly the rollout path. Optionally also times BC training on synthetic
demos of a given size (``--train-tasks`` etc.), which needs Ray.

    .venv/bin/python benchmarks/bench_policy.py
    .venv/bin/python benchmarks/bench_policy.py --steps 100 --train-tasks 4 --train-demos 5 --train-steps 200
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer


@dataclass
class Args:
    steps: int = 60
    """policy steps timed per spec (after warm-up)"""
    warmup: int = 5
    """untimed steps first"""
    image_size: int = 128
    """camera and encoder resolution (px)"""
    threads: int = 0
    """torch intra-op threads (0 = torch's default)"""
    roboact_config: str = "roboact_base"
    """RoboAct-CLIP preset for the roboact: spec (model_configs/*.json)"""
    train_tasks: int = 0
    """> 0: also time train_policy on synthetic demos of this many tasks"""
    train_demos: int = 5
    """demos per task for the training timing"""
    train_steps: int = 200
    """steps per demo for the training timing"""
    train_iterations: int = 500
    """BC iterations for the training timing"""


def _make_ckpt(
    root: Path, spec: str, feature_dim: int, state_dim: int = 9, action_dim: int = 7
) -> tuple[Path, dict]:
    import gymnasium as gym
    from roboact.policies.checkpoint import POLICY_FORMAT
    from roboact.policies.module import PolicyHeadModule
    from roboact.policies.normaliser import Normaliser

    obs_dim = feature_dim + state_dim
    ckpt = root / spec.split(":")[0]
    ckpt.mkdir(parents=True)
    PolicyHeadModule(
        observation_space=gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
        action_space=gym.spaces.Box(-1, 1, (action_dim,), np.float32),
        model_config={"hidden_sizes": [256, 256]},
    ).save_to_path(str(ckpt / "rl_module"))
    norm = Normaliser(
        np.zeros(obs_dim, np.float32), np.ones(obs_dim, np.float32), -np.ones(action_dim, np.float32),
        np.ones(action_dim, np.float32), ["task"],
    )  # fmt: skip
    meta = {"format": POLICY_FORMAT, "features": spec, "feature_dim": feature_dim, "image_size": 0,
            "state_dim": state_dim, "action_dim": action_dim,
            "heads": {"*": {"module_dir": "rl_module", "obs_dim": obs_dim,
                            "normalisation": norm.to_json()}}}  # fmt: skip
    return ckpt, meta


def _time_policy(ckpt: Path, meta: dict, args: Args) -> dict:
    import torch
    from roboact.policies import load_checkpoint as load_policy

    meta["image_size"] = args.image_size
    (ckpt / "policy.json").write_text(json.dumps(meta))
    policy = load_policy(ckpt)
    rng = np.random.default_rng(0)
    n = args.steps + args.warmup
    frames = rng.integers(0, 255, size=(n, args.image_size, args.image_size, 3), dtype=np.uint8)
    state = np.zeros(meta["state_dim"], np.float32)
    policy.reset()
    for i in range(args.warmup):
        policy.act({"image": frames[i], "state": state, "task": "task"})
    step_ms, enc_ms = [], []
    for i in range(args.warmup, args.warmup + args.steps):
        t0 = time.perf_counter()
        policy.act({"image": frames[i], "state": state, "task": "task"})
        step_ms.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        with torch.no_grad():
            policy.extractor.encoder.encode_images(frames[i][None])
        enc_ms.append((time.perf_counter() - t0) * 1e3)
    med, enc = statistics.median(step_ms), statistics.median(enc_ms)
    return {"step_ms": med, "p90_ms": float(np.percentile(step_ms, 90)), "hz": 1e3 / med, "encoder_ms": enc,
            "head_and_window_ms": med - enc, "feature_dim": meta["feature_dim"]}  # fmt: skip


def _time_training(args: Args, root: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "distributed"))
    from policy_fixtures import write_demo_file  # the tests' synthetic demo writer
    from roboact.distributed.policy import PolicyTrainConfig, train_policy

    from roboact.cluster import init_ray

    init_ray()
    tasks = [f"task {i}" for i in range(args.train_tasks)]
    demos = write_demo_file(root / "demos.h5", tasks, demos_per_task=args.train_demos, steps=args.train_steps,
                            image_size=args.image_size, action_dim=7)  # fmt: skip
    cfg = PolicyTrainConfig(image_size=args.image_size)
    t0 = time.perf_counter()
    s = train_policy(demos, "embedded", root / "trained", iterations=args.train_iterations, config=cfg)
    t1 = time.perf_counter()
    s2 = train_policy(demos, "embedded", root / "trained", iterations=args.train_iterations, config=cfg)
    return {"first_s": t1 - t0, "rerun_s": time.perf_counter() - t1, "summary": s, "rerun_summary": s2}


def main(
    steps: int = Args.steps, warmup: int = Args.warmup, image_size: int = Args.image_size,
    threads: int = Args.threads,
    roboact_config: str = Args.roboact_config, train_tasks: int = Args.train_tasks,
    train_demos: int = Args.train_demos, train_steps: int = Args.train_steps,
    train_iterations: int = Args.train_iterations,
) -> None:  # fmt: skip
    """Print policy-step latency per spec (and optionally BC training time) side by side."""
    import torch
    from roboact.models.configuration_roboact import RoboActConfig
    from roboact.models.modeling_roboact import RoboActCLIP

    args = Args(steps, warmup, image_size, threads, roboact_config, train_tasks, train_demos, train_steps,
                train_iterations)  # fmt: skip
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = json.loads((Path(__file__).resolve().parents[1] / "models" / "model_configs" /
                          f"{args.roboact_config}.json").read_text())  # fmt: skip
        cfg.update(num_subjects=4, num_actions=8, num_objects=8)
        model = RoboActCLIP(RoboActConfig(**cfg))
        model.save_pretrained(root / "model")
        specs = {
            "embedded (CLIP-row / A6: frame features)": ("embedded", 1280),
            f"roboact:{args.roboact_config} (n={cfg['n_frames']})": (f"roboact:{root / 'model'}",
                                                                     3 * cfg["embed_dim"]),
        }  # fmt: skip
        rows = []
        for name, (spec, dim) in specs.items():
            ckpt, meta = _make_ckpt(root / "ckpts" / str(len(rows)), spec, dim)
            rows.append((name, _time_policy(ckpt, meta, args)))
        print(f"\npolicy step at {args.image_size} px, CPU, torch threads {torch.get_num_threads()}, "
              f"median of {args.steps} steps")  # fmt: skip
        print(f"{'spec':48s} {'step ms':>8s} {'p90 ms':>8s} {'Hz':>6s} {'encoder ms':>11s} {'rest ms':>8s} "
              f"{'vs encoder':>10s} {'goal 20 Hz':>10s}")  # fmt: skip
        for name, r in rows:
            print(f"{name:48s} {r['step_ms']:8.1f} {r['p90_ms']:8.1f} {r['hz']:6.1f} {r['encoder_ms']:11.1f} "
                  f"{r['head_and_window_ms']:8.1f} {r['step_ms'] / r['encoder_ms']:9.2f}x "
                  f"{'yes' if r['hz'] >= 20 else 'no':>10s}")  # fmt: skip
        if args.train_tasks > 0:
            t = _time_training(args, root)
            s = t["summary"]
            head = f"{args.train_tasks} tasks x {args.train_demos} demos x {args.train_steps} steps"
            print(f"\nBC training, {head} ({s['steps']} rows), {args.train_iterations} iterations, embedded")
            print(
                f"first run {t['first_s']:.1f} s "
                f"(features {s['feature_seconds']:.1f} s, BC {s['bc_seconds']:.1f} s)"
            )
            print(f"rerun with cached features {t['rerun_s']:.1f} s")
            print(f"BC loss {s['first_loss']:.3f} -> {s['final_loss']:.3f}")


if __name__ == "__main__":
    typer.run(main)
