"""Hardware layer benchmark: command round trip, safety-filter cost, 125 Hz control-loop jitter.

Everything runs against the fake controller on 127.0.0.1. Printed side by side:
- command round trip (``get_robot_state`` and ``servo_j``) vs a raw TCP echo on loopback (the floor);
  goal p99 <= 2 ms;
- the fused safety filter vs the composition of the pure numpy checks; goal <= 50 us per command;
- control-loop lateness at 125 Hz (observation + scripted policy + filter + servo_j), vs the 8 ms period;
- the same loop with a learned head in it (issue #17: p99 lateness <= 2 ms, head >= 20 Hz): the head
  runs in its own thread at its checkpoint's rate (``ArmHeadPolicy``, as the fake and JAKA backends
  run it), the servo loop interpolates. ``--head CKPT`` times a trained arm head; without it a head
  of the trainer's default shape (frozen embedded encoder at 128 px, 256x256 MLP, 8 state and 8
  action values, 25 Hz) is written untrained: its cost per call is a trained head's, its actions are
  not (they are clipped to a small box around home, which the safety filter passes).

    .venv/bin/python benchmarks/bench_hardware.py [--round-trips 2000] [--loop-seconds 5] [--head CKPT]
"""

from __future__ import annotations

import json
import multiprocessing as mp
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _cli import parse_args
from roboact.hardware.arm_policy import load_arm_policy
from roboact.hardware.demo_file import arm_space
from roboact.hardware.fake_controller import FakeController
from roboact.hardware.jaka.client import JakaClient
from roboact.hardware.jaka.config import JakaConfig
from roboact.hardware.jaka.robot import JakaRobot
from roboact.hardware.policy import ScriptedPolicy
from roboact.hardware.robot import RobotFault
from roboact.hardware.safety import (
    SafetyFilter,
    check_finite,
    clamp_joints,
    clamp_step,
    limit_rate,
    load_safety_config,
    tcp_in_workspace,
)


@dataclass
class Args:
    round_trips: int = 2000
    """commands per round-trip measurement"""
    filter_calls: int = 20000
    """safety-filter calls to time"""
    loop_seconds: float = 5.0
    """length of each 125 Hz control-loop run (scripted, then with the head)"""
    head: str = ""
    """a trained arm head's checkpoint for the head-in-the-loop run ('' = an untrained one of the
    trainer's default shape, written to a temporary folder)"""
    head_hz: float = 25.0
    """policy rate of the untrained head (must divide the 125 Hz control rate)"""
    head_features: str = "embedded"
    """feature spec of the untrained head"""


def pct(samples: list[float]) -> tuple[float, float, float]:
    arr = np.asarray(samples)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99)), float(arr.max())


def echo_round_trip(n: int) -> list[float]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    cli = socket.create_connection(srv.getsockname())
    cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b'{"cmdName":"get_robot_state"}'
    out = []
    for _ in range(n):
        t = time.perf_counter()
        cli.sendall(msg)
        cli.recv(65536)
        out.append((time.perf_counter() - t) * 1e3)
    cli.close()
    srv.close()
    return out


def _serve_fake(conn) -> None:  # noqa: ANN001 - a multiprocessing connection
    fake = FakeController().start()
    conn.send((fake.port, fake.state_port))
    conn.recv()
    fake.stop()


class FakeProcess:
    """The fake controller in its own process (the real controller is another machine: no shared GIL)."""

    def __enter__(self) -> FakeProcess:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve_fake, args=(child,), daemon=True)
        self.proc.start()
        self.port, self.state_port = self.conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.send("stop")
        self.proc.join(5)


def main(args: Args) -> None:
    cfg = load_safety_config()
    print(f"== command round trip, {args.round_trips} commands (ms)")
    echo = echo_round_trip(args.round_trips)
    with FakeProcess() as fake:
        client = JakaClient(JakaConfig(port=fake.port, state_port=fake.state_port))
        client.connect()
        client.power_on()
        client.enable()
        rts = []
        for _ in range(args.round_trips):
            t = time.perf_counter()
            client.robot_state()
            rts.append((time.perf_counter() - t) * 1e3)
        client.servo_mode(True)
        q = np.asarray(cfg.home)
        servo = []
        for _ in range(args.round_trips):
            t = time.perf_counter()
            client.servo_j(q)
            servo.append((time.perf_counter() - t) * 1e3)
        client.servo_mode(False)
        client.close()
    e50, e99, _ = pct(echo)
    print(f"{'':22}{'p50':>8}{'p99':>8}{'max':>8}{'p99/echo':>10}")
    print(f"{'raw TCP echo':22}{e50:8.3f}{e99:8.3f}{max(echo):8.3f}{1.0:10.1f}")
    for name, s in (("get_robot_state", rts), ("servo_j", servo)):
        p50, p99, mx = pct(s)
        verdict = "ok" if p99 <= 2 else "MISSED"
        print(f"{name:22}{p50:8.3f}{p99:8.3f}{mx:8.3f}{p99 / e99:10.1f}   goal p99 <= 2 ms: {verdict}")

    print(f"\n== safety filter, {args.filter_calls} commands (us per command)")
    rng = np.random.default_rng(0)
    actions = np.append(np.asarray(cfg.home), 0.5) + rng.normal(0, 0.05, (args.filter_calls, 8))
    f = SafetyFilter(cfg)
    f.reset(np.asarray(cfg.home))
    blocks = []
    for block in np.array_split(actions, 10):  # best block = the cost without scheduler noise
        t = time.perf_counter()
        for a in block:
            f(a)
        blocks.append((time.perf_counter() - t) / len(block) * 1e6)
    fused, fused_median = min(blocks), float(np.median(blocks))
    last, vel = np.asarray(cfg.home, dtype=float), np.zeros(7)
    blocks = []
    for block in np.array_split(actions, 10):
        t = time.perf_counter()
        for a in block:
            x, _ = check_finite(a[:7], last)
            x, _ = clamp_joints(x, cfg)
            x, _ = clamp_step(x, last, cfg.max_step)
            x, _ = limit_rate(x, last, vel, cfg, f.dt)
            x = np.clip(x, cfg.lower, cfg.upper)
            if tcp_in_workspace(x, cfg):
                vel, last = (x - last) / f.dt, x
        blocks.append((time.perf_counter() - t) / len(block) * 1e6)
    composed = min(blocks)
    verdict = "ok" if fused <= 50 else "MISSED"
    print(f"{'':28}{'best':>8}{'median':>8}  (of 10 blocks)")
    print(f"{'fused SafetyFilter':28}{fused:8.1f}{fused_median:8.1f}   goal <= 50 us: {verdict}")
    print(
        f"{'pure numpy checks composed':28}{composed:8.1f}{float(np.median(blocks)):8.1f}   "
        f"ratio {composed / fused:.1f}x"
    )

    goal = np.asarray(cfg.home) + np.array([0.3, 0.2, 0, -0.2, 0, 0.2, 0])
    scripted = ScriptedPolicy(
        {"a": (goal.tolist(), 0.0), "b": (cfg.home, 0.0)}, cfg.control_hz, cfg.max_velocity
    )
    print(f"\n== control loop at {cfg.control_hz:.0f} Hz for {args.loop_seconds} s, scripted policy (ms)")
    base = control_loop(scripted, cfg, args.loop_seconds)
    print_loop(base, cfg.control_hz)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.head or untrained_arm_head(Path(tmp), args.head_features, args.head_hz, cfg)
        head = load_arm_policy(path, cfg, "jaka_k1", threaded=True)
        print(
            f"\n== control loop at {cfg.control_hz:.0f} Hz for {args.loop_seconds} s, learned head "
            f"in the loop ({'trained: ' + args.head if args.head else 'untrained'}, "
            f"{head.policy_hz:g} Hz, features {head.head.features!r}) (ms)"
        )
        t0 = time.perf_counter()
        head.head.reset()
        head.head.act(warm_obs(cfg))  # the first call builds torch's kernels: not part of the loop
        warm = time.perf_counter() - t0
        with_head = control_loop(head, cfg, args.loop_seconds)
        head.stop()
    print_loop(with_head, cfg.control_hz, base)
    rate = head.head_calls / with_head["seconds"]
    verdict = "ok" if rate >= 20 else "MISSED"
    print(
        f"head calls: {head.head_calls} in {with_head['seconds']:.1f} s = {rate:.1f} Hz "
        f"(target {head.policy_hz:g} Hz; goal >= 20 Hz: {verdict}); first call {warm:.2f} s"
    )
    l99 = pct(with_head["late"])[1]
    print(f"tick lateness p99 with the head: {l99:.3f} ms   goal <= 2 ms: {'ok' if l99 <= 2 else 'MISSED'}")


def control_loop(policy: Any, cfg: Any, seconds: float) -> dict[str, Any]:
    """The arm actor's servo loop against a fake controller process: observation, policy, filter,
    servo_j, then sleep to the next tick (missed ticks are skipped, never burst)."""
    with FakeProcess() as fake:
        robot = JakaRobot(JakaConfig(port=fake.port, state_port=fake.state_port), cfg)
        robot.connect()
        period = 1.0 / cfg.control_hz
        steps = int(seconds * cfg.control_hz)
        late, work = [], []
        robot.begin_episode()
        fault = None
        start = nxt = time.perf_counter()
        try:
            for k in range(steps):
                t = time.perf_counter()
                obs = robot.get_observation()
                obs["subtask"] = "a" if (k // 250) % 2 == 0 else "b"
                robot.send_action(policy.act(obs))
                work.append((time.perf_counter() - t) * 1e3)
                nxt += period
                delay = nxt - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                now = time.perf_counter()
                late.append(abs(now - nxt) * 1e3)
                if now - nxt > period:
                    nxt = now
        except RobotFault as err:  # the watchdog stopped the arm: a result here, not a crash
            fault = f"{err} after {len(late)} of {steps} ticks"
        elapsed = time.perf_counter() - start
        if fault is None:
            robot.end_episode()
        robot.disconnect()
    return {
        "late": late or [float("nan")],
        "work": work or [float("nan")],
        "seconds": elapsed,
        "fault": fault,
    }


def print_loop(run: dict[str, Any], control_hz: float, base: dict[str, Any] | None = None) -> None:
    period_ms = 1e3 / control_hz
    if run["fault"]:
        print(f"ARM STOPPED: {run['fault']} (a stall tripped the watchdog; figures cover the ticks before)")
    head = f"{'':22}{'p50':>8}{'p99':>8}{'max':>8}{'p99/period':>12}"
    print(head + (f"{'p99/scripted':>14}" if base else ""))
    for name, key in (("step work", "work"), ("tick lateness", "late")):
        p50, p99, mx = pct(run[key])
        line = f"{name:22}{p50:8.3f}{p99:8.3f}{mx:8.3f}{p99 / period_ms:12.2f}"
        if base:
            line += f"{p99 / max(pct(base[key])[1], 1e-9):14.2f}"
        print(line)


def warm_obs(cfg: Any) -> dict[str, Any]:
    return {
        "image": np.zeros((128, 128, 3), np.uint8),
        "state": np.append(np.asarray(cfg.home, np.float32), np.float32(0.0)),
        "task": "a",
    }


def untrained_arm_head(root: Path, features: str, policy_hz: float, cfg: Any) -> str:
    """A head of the trainer's default shape on the arm's spaces, written without training (the
    checkpoint contract of ``roboact.policies.checkpoint``): per-task heads for the loop's two
    subtasks, actions bounded to +-0.05 rad around home so the filter passes them."""
    import gymnasium as gym
    from roboact.distributed.policy import PolicyTrainConfig
    from roboact.policies.checkpoint import POLICY_FORMAT
    from roboact.policies.features import FeatureExtractor, FeatureSpec
    from roboact.policies.module import PolicyHeadModule
    from roboact.policies.normaliser import Normaliser

    train = PolicyTrainConfig(features=features)
    dim = FeatureExtractor(FeatureSpec.parse(features), image_size=train.image_size).dim
    n = cfg.n_joints + 1
    obs_dim = dim + n
    home = np.append(np.asarray(cfg.home, np.float32), np.float32(0.5))
    heads = {}
    for task in ("a", "b"):
        module = PolicyHeadModule(
            observation_space=gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
            action_space=gym.spaces.Box(-1, 1, (n,), np.float32),
            model_config={"hidden_sizes": list(train.hidden_sizes), "activation": train.activation,
                          "layer_norm": train.layer_norm},
        )  # fmt: skip
        module.save_to_path(str(root / "rl_module" / task))
        norm = Normaliser(
            obs_mean=np.zeros(obs_dim, np.float32), obs_std=np.ones(obs_dim, np.float32),
            action_low=home - 0.05, action_high=home + 0.05, tasks=[task],
        )  # fmt: skip
        heads[task] = {"module_dir": f"rl_module/{task}", "normalisation": norm.to_json()}
    meta = {
        "format": POLICY_FORMAT, "features": features, "feature_dim": dim, "image_size": train.image_size,
        "suite": arm_space("jaka_k1", policy_hz), "state_dim": n, "action_dim": n, "obs_dim": obs_dim,
        "tasks": ["a", "b"], "heads": heads,
    }  # fmt: skip
    (root / "policy.json").write_text(json.dumps(meta))
    return str(root)


if __name__ == "__main__":
    main(parse_args(Args, __doc__))
