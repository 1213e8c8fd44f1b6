"""A watchdog that stops the arm when commands stop arriving (the ur_rtde pattern).

While armed, every command ``feed``s it; if no feed comes within ``timeout_s`` the callback
(stop the arm) runs once from the watchdog's own thread and ``fired`` stays set until ``arm`` is
called again. The robot refuses commands while ``fired`` is set, so a stalled policy loop cannot
resume into a stale trajectory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Watchdog:
    """Calls ``on_timeout`` once when ``feed`` is not called for ``timeout_s`` while armed."""

    def __init__(self, timeout_s: float, on_timeout: Callable[[], None], poll_s: float | None = None) -> None:
        if timeout_s <= 0:
            raise ValueError(f"watchdog timeout must be > 0, got {timeout_s}")
        self.timeout_s = timeout_s
        self.on_timeout = on_timeout
        self.poll_s = poll_s if poll_s is not None else min(0.01, timeout_s / 5)
        self._last = time.monotonic()
        self._armed = False
        self.fired = threading.Event()
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def arm(self) -> None:
        self._last = time.monotonic()
        self.fired.clear()
        self._armed = True

    def disarm(self) -> None:
        self._armed = False

    def feed(self) -> None:
        self._last = time.monotonic()

    def close(self) -> None:
        self._quit.set()
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        while not self._quit.wait(self.poll_s):
            if self._armed and time.monotonic() - self._last > self.timeout_s:
                self._armed = False
                self.fired.set()
                logger.warning("watchdog: no command for %.3f s, stopping the arm", self.timeout_s)
                try:
                    self.on_timeout()
                except Exception:  # noqa: BLE001 - the stop is best effort; the fault is recorded
                    logger.exception("watchdog stop callback failed")
