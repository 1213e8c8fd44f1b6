"""``roboact hardware``: check the arm, run the fake controller, run trial batches, render Table V."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from roboact.hardware.jobs import operator_judge, with_checkpoint_policies  # noqa: F401 (their old home)

from roboact.cli_util import fail
from roboact.stage import ConfigFileOpt, Flag, OverridesArg, PrintConfigOpt, resolve, stage_command

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add the ``hardware`` group to the top-level app."""
    grp = typer.Typer(
        help="JAKA arm: connection check, fake controller, scheduled trial batches (Table V).",
        no_args_is_help=True,
    )
    grp.command("check")(check)
    grp.command("fake-controller")(fake_controller)
    jobs = "roboact.hardware.jobs"
    grp.command("trials", cls=stage_command(f"{jobs}:TrialsJobConfig", f"{jobs}:run_hardware_trials"))(trials)
    grp.command("record", cls=stage_command(f"{jobs}:RecordJobConfig", f"{jobs}:run_hardware_record"))(record)
    grp.command("report")(report)
    app.add_typer(grp, name="hardware")


def check_status(host: str, port: int, state_port: int, timeout: float = 3.0) -> dict:
    """Connect, read one state, query power/enable/e-stop; moves nothing."""
    from roboact.hardware.jaka.client import JakaClient, JakaError
    from roboact.hardware.jaka.config import JakaConfig

    out: dict = {
        "host": host,
        "port": port,
        "state_port": state_port,
        "connected": False,
        "powered": False,
        "enabled": False,
        "joints": [],
        "tcp": [],
        "errors": [],
    }
    cfg = JakaConfig(
        host=host, port=port, state_port=state_port, timeout_s=timeout, connect_timeout_s=timeout
    )
    client = JakaClient(cfg)
    try:
        client.connect()
        out["connected"] = True
        state = client.state()
        status = client.robot_state()
        out.update(powered=status["powered"], enabled=status["enabled"], joints=state.joints, tcp=state.tcp)
        out["errors"] = list(state.errors)
        if client.emergency_stop_status() and "emergency stop" not in out["errors"]:
            out["errors"].append("emergency stop")
    except JakaError as err:
        out["errors"].append(str(err))
    finally:
        client.close()
    return out


def check(
    host: Annotated[str, typer.Option(help="Controller IP address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="JSON command port.")] = 10001,
    state_port: Annotated[
        int, typer.Option("--state-port", min=1, max=65535, help="State stream port.")
    ] = 10000,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="One JSON object (connected, powered, enabled, joints [rad], errors)."),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the controller.")] = 3.0,
) -> None:
    """Connect, read one state, report power/enable/error status. Moves nothing. Exit 0 only when healthy."""
    out = check_status(host, port, state_port, timeout)
    if as_json:
        typer.echo(json.dumps(out))
    else:
        typer.echo(
            f"controller {host}:{port} (state {state_port}): "
            f"{'connected' if out['connected'] else 'NOT connected'}"
        )
        typer.echo(f"  powered={out['powered']} enabled={out['enabled']}")
        typer.echo(f"  joints (rad): {[round(q, 4) for q in out['joints']]}")
        for err in out["errors"]:
            typer.echo(f"  error: {err}", err=True)
    raise typer.Exit(0 if out["connected"] and not out["errors"] else 1)


def fake_controller(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Command port (0 = any free port).")] = 10001,
    state_port: Annotated[
        int, typer.Option("--state-port", min=0, max=65535, help="State stream port (0 = any free).")
    ] = 10000,
    faults: Annotated[
        str,
        typer.Option(
            help="Fault SPEC, e.g. 'drop_after=50,error_on=joint_move,"
            "protective_stop_after=2.0,slow_ms=300,malformed_every=20'."
        ),
    ] = "",
    robot: Annotated[str, typer.Option(help="Robot YAML (name or path).")] = "jaka_k1",
) -> None:
    """Run the fake JAKA controller on 127.0.0.1 until Ctrl-C (for demos and tests)."""
    import time

    from roboact.hardware.fake_controller import FakeController, FaultSpec

    try:
        spec = FaultSpec.parse(faults)
    except ValueError as err:
        fail(str(err))
    fake = FakeController(robot, port=port, state_port=state_port, faults=spec).start()
    typer.echo(
        json.dumps({"host": "127.0.0.1", "port": fake.port, "state_port": fake.state_port, "faults": faults}),
        nl=True,
    )
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


# The arm connection options `trials` and `record` share (one definition, one help text).
ArmHostOpt = Annotated[str, typer.Option(help="Controller IP (jaka).")]
ArmPortOpt = Annotated[int, typer.Option(min=1, max=65535, help="Command port (jaka).")]
ArmStatePortOpt = Annotated[int, typer.Option("--state-port", min=1, max=65535, help="State port (jaka).")]
ArmGripperOpt = Annotated[
    str, typer.Option(help="Gripper serial device or tcp://host:port (jaka; '' = none).")
]
FaultsOpt = Annotated[str, typer.Option(help="Fault SPEC for the fake backend.")]
MarksOpt = Annotated[
    str | None,
    typer.Option(
        help="Who marks subtasks: operator (default on jaka) or scene (default on sim and fake; an "
        "operator there marks with the scene judge's verdict stored beside)."
    ),
]
MarkUiOpt = Annotated[
    str, typer.Option("--mark-ui", help="Where the operator answers: keyboard, or web (a page on 127.0.0.1).")
]
MarkPortOpt = Annotated[
    int, typer.Option("--mark-port", min=0, max=65535, help="Port of the web marks page (0: a free one).")
]
OperatorOpt = Annotated[str, typer.Option(help="Who marks (stored with every mark).")]
ARM_FLAGS = ("plan", "backend", "host", "port", "state_port", "gripper", "camera", "faults")
ARM_FLAGS += ("marks", "mark_ui", "mark_port", "operator")
"""the options ``trials`` and ``record`` share, each the ``ArmJobConfig`` key of its name"""


def trials(
    ctx: typer.Context,
    plan: Annotated[
        str | None, typer.Option(help="Trial plan YAML (path or shipped name, e.g. trials_demo).")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="jaka (real arm), fake (fake controller) or sim (MuJoCo).")
    ] = "sim",
    store: Annotated[
        str,
        typer.Option(
            help="SQLite trial store, or an s3:// / gs:// URI (uploaded after every trial); rerun with "
            "the same store to resume."
        ),
    ] = "runs/trials/trials.sqlite",
    host: ArmHostOpt = "127.0.0.1",
    port: ArmPortOpt = 10001,
    state_port: ArmStatePortOpt = 10000,
    gripper: ArmGripperOpt = "",
    camera: Annotated[
        str | None,
        typer.Option(
            help="orbbec, opencv or fake; required with --backend jaka, so a real-arm run never feeds "
            "synthetic images to its policies by default."
        ),
    ] = None,
    faults: FaultsOpt = "",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: local or RAY_ADDRESS).")
    ] = None,
    no_ray: Annotated[
        bool, typer.Option("--no-ray", help="Run the arm in this process, not a Ray actor.")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--now", help="Follow the plan's cron/window schedule (block until it fires) or start now."
        ),
    ] = False,
    max_trials: Annotated[int | None, typer.Option(help="Stop after this many trials.")] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            help="A policy head checkpoint ([NAME=]DIR, repeatable) trained on recorded demos; replaces "
            "the plan's policies. Its state/action spaces must be the arm's.",
        ),
    ] = None,
    marks: MarksOpt = None,
    mark_ui: MarkUiOpt = "keyboard",
    mark_port: MarkPortOpt = 8765,
    operator: OperatorOpt = "operator",
    config: ConfigFileOpt = None,
    overrides: OverridesArg = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Run (or resume) a trial plan on the arm; results go to the trial store as they happen."""
    from roboact.hardware.jobs import TrialsJobConfig, run_hardware_trials

    flags: dict[str, Flag] = {n: n for n in (*ARM_FLAGS, "store", "address", "wait", "max_trials")}
    flags |= {"no_ray": ("use_ray", lambda no: not no), "policy": "policies"}
    cfg = resolve(ctx, TrialsJobConfig, flags)
    summary = run_hardware_trials(cfg)
    plan_name = summary.pop("plan_name")
    if summary.get("scheduled"):
        return
    typer.echo(json.dumps(summary, indent=2, default=str))
    from roboact.hardware.report import table_v
    from roboact.hardware.trials import fault_summary

    typer.echo(table_v(_local_store(cfg.store), plan_name))
    faults = fault_summary(summary)
    if faults:  # a batch that faults is not a clean run, even if it reached its end
        typer.echo(faults, err=True)
    if summary["stopped"] is not None:
        typer.echo(f"batch stopped: {summary['stopped']}", err=True)
    raise typer.Exit(0 if summary["stopped"] is None and not faults else 1)


def record(
    ctx: typer.Context,
    out: Annotated[
        str | None,
        typer.Option(
            help="Demo HDF5 file or s3:// / gs:// URI to write (rerun to add the missing episodes)."
        ),
    ] = None,
    plan: Annotated[
        str, typer.Option(help="Plan YAML (path or shipped name): the task's subtasks and durations.")
    ] = "trials_demo",
    episodes: Annotated[int, typer.Option(min=1, help="Episodes wanted in the file (in total).")] = 1,
    backend: Annotated[
        str, typer.Option(help="jaka (real arm), fake (fake controller) or sim (MuJoCo).")
    ] = "sim",
    device: Annotated[
        str, typer.Option(help="Input device: scripted (the plan's scripted paths) or keyboard.")
    ] = "scripted",
    task: Annotated[str | None, typer.Option(help="The plan's task to record (default: its first).")] = None,
    noise: Annotated[
        float, typer.Option(min=0.0, help="scripted device: std (rad) of its goal noise, so episodes differ.")
    ] = 0.0,
    policy_hz: Annotated[
        float, typer.Option("--policy-hz", help="Rate a head trained on these demos runs at (divides 125).")
    ] = 25.0,
    host: ArmHostOpt = "127.0.0.1",
    port: ArmPortOpt = 10001,
    state_port: ArmStatePortOpt = 10000,
    gripper: ArmGripperOpt = "",
    camera: Annotated[
        str | None,
        typer.Option(
            help="orbbec, opencv or fake; required with --backend jaka (no synthetic images by default)."
        ),
    ] = None,
    faults: FaultsOpt = "",
    marks: MarksOpt = None,
    mark_ui: MarkUiOpt = "keyboard",
    mark_port: MarkPortOpt = 8765,
    operator: OperatorOpt = "operator",
    config: ConfigFileOpt = None,
    overrides: OverridesArg = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Record demonstrations through the arm (every command filtered, watchdog armed) into a demo file."""
    from roboact.hardware.jobs import RecordJobConfig, run_hardware_record

    names = (*ARM_FLAGS, "out", "episodes", "device", "task", "noise", "policy_hz")
    summary = run_hardware_record(resolve(ctx, RecordJobConfig, {n: n for n in names}))
    typer.echo(json.dumps(summary, indent=1, default=str))
    if summary["stopped"] is not None:
        typer.echo(f"recording stopped: {summary['stopped']}", err=True)
    raise typer.Exit(0 if summary["fault"] is None and summary["stopped"] is None else 1)


def report(
    store: Annotated[
        str, typer.Option(help="SQLite trial store, or its s3:// / gs:// URI.")
    ] = "runs/trials/trials.sqlite",
    plan: Annotated[str | None, typer.Option(help="Only this plan's trials.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The table as JSON.")] = False,
) -> None:
    """Render Table V (per-subtask success rates per policy, the paper's numbers beside) from a store."""
    from roboact.hardware.report import table_v, table_v_dict

    from roboact import storage

    if not storage.exists(store) or (not storage.is_remote(store) and not Path(store).is_file()):
        fail(f"trial store not found: {store}")
    path = _local_store(store)
    typer.echo(json.dumps(table_v_dict(path, plan), indent=2) if as_json else table_v(path, plan))


def _local_store(store: str) -> Path:
    """The trial store to read here: a local path, or a URI's copy staged on this node."""
    from roboact import storage

    return storage.local_copy(store) if storage.is_remote(store) else Path(store)
