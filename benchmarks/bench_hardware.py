"""Hardware layer benchmark: command round trip, safety-filter cost, 125 Hz control-loop jitter.

Everything runs against the fake controller on 127.0.0.1. Printed side by side:
- command round trip (``get_robot_state`` and ``servo_j``) vs a raw TCP echo on loopback (the floor);
  goal p99 <= 2 ms;
- the fused safety filter vs the composition of the pure numpy checks; goal <= 50 us per command;
- control-loop lateness at 125 Hz (observation + scripted policy + filter + servo_j), vs the 8 ms period.

    .venv/bin/python benchmarks/bench_hardware.py [--round-trips 2000] [--loop-seconds 5]
"""

from __future__ import annotations

import multiprocessing as mp
import socket
import threading
import time
from dataclasses import dataclass

import numpy as np
from _cli import parse_args
from roboact.hardware.fake_controller import FakeController
from roboact.hardware.jaka.client import JakaClient
from roboact.hardware.jaka.config import JakaConfig
from roboact.hardware.jaka.robot import JakaRobot
from roboact.hardware.policy import ScriptedPolicy
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
    """length of the 125 Hz control-loop run"""


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

    print(f"\n== control loop at {cfg.control_hz:.0f} Hz for {args.loop_seconds} s (lateness, ms)")
    with FakeProcess() as fake:
        robot = JakaRobot(JakaConfig(port=fake.port, state_port=fake.state_port), cfg)
        robot.connect()
        goal = np.asarray(cfg.home) + np.array([0.3, 0.2, 0, -0.2, 0, 0.2, 0])
        policy = ScriptedPolicy(
            {"a": (goal.tolist(), 0.0), "b": (cfg.home, 0.0)}, cfg.control_hz, cfg.max_velocity
        )
        period = 1.0 / cfg.control_hz
        steps = int(args.loop_seconds * cfg.control_hz)
        late, work = [], []
        robot.begin_episode()
        nxt = time.perf_counter()
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
            if now - nxt > period:  # as the actor does: skip missed ticks, never burst
                nxt = now
        robot.end_episode()
        robot.disconnect()
    l50, l99, lmax = pct(late)
    w50, w99, wmax = pct(work)
    print(f"{'':22}{'p50':>8}{'p99':>8}{'max':>8}{'p99/period':>12}")
    print(f"{'step work':22}{w50:8.3f}{w99:8.3f}{wmax:8.3f}{w99 / (period * 1e3):12.2f}")
    print(f"{'tick lateness':22}{l50:8.3f}{l99:8.3f}{lmax:8.3f}{l99 / (period * 1e3):12.2f}")


if __name__ == "__main__":
    main(parse_args(Args, __doc__))
