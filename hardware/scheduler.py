"""When trial batches run: a cron expression and/or a daily window, through APScheduler 3.x.

``ScheduleConfig`` (in ``trial_plan.py``) holds ``cron`` (batch start times, crontab syntax) and
``window_start``/``window_end`` (HH:MM; no trial *starts* outside; a window may wrap midnight).
``in_window`` is checked before every trial; ``next_start`` says when the next batch may begin;
``run_scheduled`` blocks in APScheduler's ``BlockingScheduler`` and runs the batch at each fire
time until the plan has nothing pending.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from roboact.hardware.trial_plan import ScheduleConfig

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

logger = logging.getLogger(__name__)


def _hm(text: str, key: str) -> dt.time:
    try:
        hour, minute = text.split(":")
        return dt.time(int(hour), int(minute))
    except ValueError as err:
        raise ValueError(f"schedule.{key}: expected HH:MM, got {text!r}") from err


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _standard_weekdays(expr: str) -> str:
    """Crontab weekday numbers (0/7 = Sunday) as names: APScheduler 3 counts 0 = Monday."""
    fields = expr.split()
    if len(fields) == 5:
        fields[4] = re.sub(
            r"\d+", lambda m: _DAYS[int(m.group())] if int(m.group()) < 8 else m.group(), fields[4]
        )
    return " ".join(fields)


def validate(cfg: ScheduleConfig) -> None:
    """Raise ``ValueError`` naming the field when the schedule is malformed."""
    ZoneInfo(cfg.timezone)
    if bool(cfg.window_start) != bool(cfg.window_end):
        raise ValueError("schedule: window_start and window_end must be given together")
    if cfg.window_start:
        _hm(cfg.window_start, "window_start")
        _hm(cfg.window_end, "window_end")
    if cfg.cron:
        trigger(cfg)


def trigger(cfg: ScheduleConfig) -> BaseTrigger | None:
    """The APScheduler trigger of batch starts: the cron expression, else daily at window start."""
    from apscheduler.triggers.cron import CronTrigger

    tz = ZoneInfo(cfg.timezone)
    if cfg.cron:
        try:
            return CronTrigger.from_crontab(_standard_weekdays(cfg.cron), timezone=tz)
        except ValueError as err:
            raise ValueError(f"schedule.cron: bad crontab expression {cfg.cron!r}: {err}") from err
    if cfg.window_start:
        start = _hm(cfg.window_start, "window_start")
        return CronTrigger(hour=start.hour, minute=start.minute, timezone=tz)
    return None


def in_window(cfg: ScheduleConfig, now: dt.datetime | None = None) -> bool:
    """Whether a trial may start at ``now`` (always, without a window)."""
    if not cfg.window_start:
        return True
    tz = ZoneInfo(cfg.timezone)
    now = (now or dt.datetime.now(tz)).astimezone(tz)
    start, end, t = _hm(cfg.window_start, "window_start"), _hm(cfg.window_end, "window_end"), now.time()
    return start <= t < end if start <= end else (t >= start or t < end)


def next_start(cfg: ScheduleConfig, now: dt.datetime | None = None) -> dt.datetime | None:
    """The next time a batch may start (``now`` when it may start now; None without a schedule)."""
    tz = ZoneInfo(cfg.timezone)
    now = (now or dt.datetime.now(tz)).astimezone(tz)
    trig = trigger(cfg)
    if trig is None:
        return now
    if not cfg.cron and in_window(cfg, now):
        return now
    return trig.get_next_fire_time(None, now)


def run_scheduled(cfg: ScheduleConfig, batch: Callable[[], bool]) -> None:
    """Block, running ``batch`` at each fire time; ``batch`` returns True when nothing is left."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    sched = BlockingScheduler(timezone=ZoneInfo(cfg.timezone))

    def job() -> None:
        if batch():
            logger.info("plan finished; scheduler stops")
            sched.shutdown(wait=False)

    sched.add_job(job, trigger(cfg), max_instances=1, coalesce=True, misfire_grace_time=3600)
    logger.info("waiting for the schedule; next batch at %s", next_start(cfg))
    sched.start()
