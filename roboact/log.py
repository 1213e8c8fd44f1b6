"""Logging set-up for the CLI: a quiet console, and everything else in the run's log file.

Library modules only use ``logging.getLogger(__name__)``. The console (stderr; stdout stays clean
for ``--json`` output) shows roboact's own progress and results, and errors from anywhere. Ray's
driver-side messages, the output of Ray workers on every node (Train's per-rank reports, Train
controllers, simulator actors) and third-party warnings (Python warnings, exceptions ignored in
``__del__`` such as EGL teardown) go to the run's log file only, because a stage's progress is
unreadable among hundreds of such lines; ``-v`` puts them back on the console.

The log file is attached by the command that owns a run directory (``log_to_file``) or by
``ROBOACT_LOG_FILE``; records from before that are kept in memory (bounded) and written first.
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler

LOG_FILE_ENV = "ROBOACT_LOG_FILE"
"""set to a path: every command writes its full log there (a command with a run directory may
write its own ``roboact.log`` instead)"""
RUN_LOG_NAME = "roboact.log"
"""the log file's name inside a run directory"""
WORKER_LOGGER = "ray.worker_output"
"""the logger that carries what Ray workers print (one record per line)"""
PENDING_RECORDS = 20_000
"""records kept before a log file is attached; older ones are dropped first"""
_FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_OWN = ("roboact",)  # loggers whose INFO and WARNING reach the console by default

_run_log: RunLog | None = None
_verbose = False


class RunLog(logging.Handler):
    """The run's log file: every record at ``level`` and up, buffered until a file is attached."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter(_FILE_FORMAT))
        self._pending: collections.deque[logging.LogRecord] = collections.deque(maxlen=PENDING_RECORDS)
        self.file: logging.FileHandler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.file is None:
            self._pending.append(record)
        else:
            self.file.emit(record)

    def attach(self, path: Path) -> None:
        """Write to ``path`` (appending: a resumed run keeps its earlier log), pending records first."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(self.formatter)
        with self.lock:  # type: ignore[union-attr]  # logging.Handler always creates its lock
            old, self.file = self.file, handler
            pending = list(self._pending)
            self._pending.clear()
        for record in pending:
            handler.emit(record)
        if old is not None:
            old.close()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        super().close()


class ConsoleFilter(logging.Filter):
    """Quiet console: roboact's own INFO and up, and ERROR and up from any logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _verbose or record.levelno >= logging.ERROR:
            return True
        return record.name.split(".", 1)[0] in _OWN


def setup_logging(verbose: bool = False) -> None:
    """Configure the root logger once per command; library code never calls this.

    Args:
        verbose: debug level, and the console shows everything the log file gets.
    """
    global _run_log, _verbose
    _verbose = verbose
    if _run_log is not None:
        _run_log.close()
    level = logging.DEBUG if verbose else logging.INFO  # handler levels too: Ray Data logs at DEBUG
    _run_log = RunLog(level)
    console = RichHandler(level=level, console=Console(stderr=True), rich_tracebacks=False, show_path=False)
    console.addFilter(ConsoleFilter())
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[console, _run_log],
        force=True,
    )
    for noisy in ("urllib3", "filelock", "matplotlib", "PIL", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Ray workers' lines: the run log only; with -v Ray's own printer shows them too (init_ray).
    workers = logging.getLogger(WORKER_LOGGER)
    workers.handlers[:] = [_run_log]
    workers.propagate = False
    warnings.showwarning = _show_warning
    if sys.unraisablehook in (sys.__unraisablehook__, _log_unraisable):  # not a test runner's own hook
        sys.unraisablehook = _log_unraisable
    if "ray" in sys.modules:  # imported before this command configured logging: adopt it now
        adopt_ray_logging()
    if os.environ.get(LOG_FILE_ENV):
        log_to_file(os.environ[LOG_FILE_ENV])


def configured() -> bool:
    """Whether a command configured logging (library use leaves Ray's console output alone)."""
    return _run_log is not None


def verbose() -> bool:
    """Whether the command runs with ``-v``."""
    return _verbose


def log_to_file(path: str | Path) -> Path | None:
    """Write the full log to ``path`` from now on, and what was logged before; return the path.

    A command that owns a run directory calls this with ``<run>/roboact.log``; ``ROBOACT_LOG_FILE``
    wins when set. Returns None when logging was not set up by the CLI (library use).
    """
    if _run_log is None:
        return None
    env_path = os.environ.get(LOG_FILE_ENV)
    target = Path(env_path or path)
    if _run_log.file is not None and Path(_run_log.file.baseFilename) == target.resolve():
        return target
    _run_log.attach(target)
    logging.getLogger(__name__).info("full log (Ray workers, third-party warnings): %s", target)
    return target


def adopt_ray_logging() -> list[str]:
    """Send the driver-side records of Ray and its libraries through our handlers; return their names.

    ``import ray`` gives the ``ray`` logger a stderr handler and stops it from propagating, only so
    that an application's ``basicConfig`` does not print its records twice (``ray/_private/log.py``);
    ``ray.data`` and ``ray.rllib`` do the same when imported. For every ``ray``/``ray.*`` logger that
    exists now, this removes such console handlers (file handlers, like Ray Data's session log, stay)
    and lets the records propagate, so the console filter and the run log decide. Call after the
    import (``init_ray`` does before ``ray.init``, which logs the token-auth warning). A no-op unless
    the CLI configured logging.
    """
    if not configured():
        return []
    consoles = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    adopted = []
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or name == WORKER_LOGGER:
            continue
        if name != "ray" and not name.startswith("ray."):
            continue
        ours = [
            h
            for h in logger.handlers
            if isinstance(h, logging.StreamHandler)
            and not isinstance(h, logging.FileHandler)
            and getattr(h, "stream", None) in consoles
        ]
        for handler in ours:
            logger.removeHandler(handler)
        if ours or not logger.propagate:
            logger.propagate = True
            adopted.append(name)
    return adopted


def route_ray_worker_output() -> bool:
    """Write what Ray workers print (every node, streamed to this driver) into the run log.

    ``ray.init(log_to_driver=True)`` streams worker stdout/stderr to the driver, where Ray's printer
    (the ``ray_print_logs`` handler of its stream dispatcher) writes them to the console. Ray has no
    public setting to send that stream elsewhere, so this registers a second handler on the same
    dispatcher and, without ``-v``, removes Ray's printer. Returns False (and leaves Ray's printer)
    when this Ray has no such dispatcher. A no-op unless the CLI configured logging.
    """
    if not configured():
        return False
    try:
        from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher
        from ray._private.worker import filter_autoscaler_events
    except ImportError:
        return False
    workers = logging.getLogger(WORKER_LOGGER)

    def handle(data: dict[str, Any]) -> None:
        try:
            who = data.get("actor_name") or data.get("task_name") or ""
            prefix = f"({who + ' ' if who else ''}pid={data.get('pid')}, ip={data.get('ip')})"
            level = logging.WARNING if data.get("is_err") else logging.INFO
            lines = data.get("lines", [])
            if data.get("pid") == "autoscaler":  # its status dumps: only the events, as Ray's printer does
                lines = filter_autoscaler_events(lines)
            for line in lines:
                workers.log(level, "%s %s", prefix, line)
        except Exception:  # never break Ray's log thread
            pass

    dispatcher.remove_handler("roboact_run_log")
    dispatcher.add_handler("roboact_run_log", handle)
    if not _verbose:
        dispatcher.remove_handler("ray_print_logs")
    _divert_raylet_notices(handle)
    return True


RAYLET_NOTICES = ("PYTHON worker processes have been started on node",)
"""raylet messages to the driver that are advice, not errors: they go to the run log (the console
with ``-v``). Why this one: Ray prints it whenever a node has started more workers than CPUs, which
every stage with short-lived simulator or encoder actors does (``roboact demo``'s hardware stage
printed it mid-progress); it says nothing the user can act on there."""


def _divert_raylet_notices(handle: Any) -> None:
    """Send ``RAYLET_NOTICES`` to ``handle`` (the run log) instead of the console; every other message
    the raylet pushes (a worker killed for memory, an actor that died) still prints.

    Why a wrapper around Ray's private ``print_to_stdstream``: the raylet's messages reach the driver
    through Ray's error listener, which calls that function directly, not the stream dispatcher.
    """
    try:
        import ray._private.worker as ray_worker
    except ImportError:
        return
    printer = getattr(ray_worker.print_to_stdstream, "__wrapped__", ray_worker.print_to_stdstream)

    def print_or_log(data: dict[str, Any], ignore_prefix: bool) -> None:
        lines = [str(line) for line in data.get("lines", [])]
        known = lines and all(any(n in line for n in RAYLET_NOTICES) for line in lines)
        if data.get("pid") == "raylet" and known:
            handle(data)
            if not _verbose:
                return
        printer(data, ignore_prefix)

    print_or_log.__wrapped__ = printer  # type: ignore[attr-defined]  # a second call wraps Ray's, not ours
    ray_worker.print_to_stdstream = print_or_log


def _own_files() -> tuple[str, ...]:
    """Folders of the imported roboact packages (a warning raised there is ours)."""
    dirs = {
        os.path.dirname(m.__file__)
        for n, m in list(sys.modules.items())
        if n.startswith("roboact") and getattr(m, "__file__", None)
    }
    return tuple(d + os.sep for d in dirs)


def _show_warning(
    message: Any,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning``: roboact's own warnings on the console, others in the run log."""
    own = os.path.abspath(filename).startswith(_own_files())
    text = warnings.formatwarning(message, category, filename, lineno, line).rstrip()
    logging.getLogger("roboact.warnings" if own else "py.warnings").warning("%s", text)


def _log_unraisable(unraisable: Any) -> None:
    """``sys.unraisablehook``: exceptions ignored in ``__del__`` (EGL contexts torn down at exit)."""
    try:
        import traceback

        text = "".join(
            traceback.format_exception(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback)
        )
        logging.getLogger("py.unraisable").warning(
            "%s: %r\n%s", unraisable.err_msg or "Exception ignored in", unraisable.object, text.rstrip()
        )
    except Exception:
        sys.__unraisablehook__(unraisable)
