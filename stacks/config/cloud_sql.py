"""A cloud stack's Cloud SQL instance: machine, edition, availability, backups and maintenance."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from stacks.budget import PERF_TIER
from stacks.config.keys import Key
from stacks.config.reader import Reader
from stacks.stackfile import PROJECT

EDITIONS = ("ENTERPRISE", "ENTERPRISE_PLUS")
AVAILABILITY = ("ZONAL", "REGIONAL")
# Enterprise keeps at most 7 days of transaction logs, Enterprise Plus 35.
PITR_MAX_DAYS = {"ENTERPRISE": 7, "ENTERPRISE_PLUS": 35}
# Cloud SQL refuses a deny-maintenance period longer than this.
DENY_MAINTENANCE_MAX_DAYS = 90

_TIER = re.compile(r"db-[a-z0-9-]+")
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
# A yearly date, month-day (Cloud SQL's recurring deny-maintenance form), or empty for none.
_MONTH_DAY = re.compile(r"|(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")


@dataclass(frozen=True)
class CloudSqlConfig:
    """The Cloud SQL instance: machine, edition, availability, backups and maintenance."""

    tier: str
    edition: str
    availability: str
    disk_size_gb: int
    backup_start_time: str
    pitr_days: int
    retained_backups: int
    maintenance_day: int
    maintenance_hour: int
    deny_maintenance: tuple[str, str] | None  # (start, end) month-day, every year; None: no freeze
    disk_autoresize_limit_gb: int
    retain_backups_on_delete: bool
    final_backup_days: int  # 0: no final backup when the instance is deleted


def read_cloud_sql(read: Reader) -> CloudSqlConfig:
    sql = CloudSqlConfig(
        tier=read.text(Key.TIER, _TIER, "a Cloud SQL tier such as db-custom-2-7680"),
        edition=read.choice(Key.EDITION, EDITIONS),
        availability=read.choice(Key.AVAILABILITY_TYPE, AVAILABILITY),
        disk_size_gb=read.integer(Key.DISK_SIZE_GB, 10, 65536),
        backup_start_time=read.text(Key.BACKUP_START_TIME, _HHMM, "a UTC time HH:MM"),
        pitr_days=read.integer(Key.PITR_DAYS, 1, 35),
        retained_backups=read.integer(Key.RETAINED_BACKUPS, 1, 365),
        maintenance_day=read.integer(Key.MAINTENANCE_DAY, 1, 7),
        maintenance_hour=read.integer(Key.MAINTENANCE_HOUR, 0, 23),
        deny_maintenance=_deny_maintenance(read),
        disk_autoresize_limit_gb=read.integer(Key.DISK_AUTORESIZE_LIMIT_GB, 10, 65536),
        retain_backups_on_delete=read.boolean(Key.RETAIN_BACKUPS_ON_DELETE),
        final_backup_days=read.integer(Key.FINAL_BACKUP_DAYS, 0, 365),
    )
    if sql.disk_autoresize_limit_gb < sql.disk_size_gb:
        raise read.fail(
            Key.DISK_AUTORESIZE_LIMIT_GB,
            f"({sql.disk_autoresize_limit_gb}) must not be below {Key.DISK_SIZE_GB} ({sql.disk_size_gb})",
        )
    perf_tier = PERF_TIER.fullmatch(sql.tier) is not None
    if sql.edition == "ENTERPRISE_PLUS" and not perf_tier:
        raise read.fail(
            Key.TIER, f"must be a db-perf-optimized-N-* tier for ENTERPRISE_PLUS (got {sql.tier!r})"
        )
    if sql.edition == "ENTERPRISE" and perf_tier:
        raise read.fail(Key.EDITION, f"must be ENTERPRISE_PLUS for the tier {sql.tier}")
    if sql.pitr_days > PITR_MAX_DAYS[sql.edition]:
        raise read.fail(
            Key.PITR_DAYS,
            f"must be at most {PITR_MAX_DAYS[sql.edition]} on {sql.edition} (got {sql.pitr_days})",
        )
    return sql


def _deny_maintenance(read: Reader) -> tuple[str, str] | None:
    """The yearly maintenance freeze, both ends or neither, at most 90 days long."""
    expected = "a month-day such as 12-15, or empty"
    start = read.text(Key.DENY_MAINTENANCE_START, _MONTH_DAY, expected)
    end = read.text(Key.DENY_MAINTENANCE_END, _MONTH_DAY, expected)
    if not start and not end:
        return None
    if not start or not end:
        missing, other = (
            (Key.DENY_MAINTENANCE_START, Key.DENY_MAINTENANCE_END)
            if not start
            else (Key.DENY_MAINTENANCE_END, Key.DENY_MAINTENANCE_START)
        )
        raise read.fail(missing, f"must be set too when {PROJECT}:{other} is (or leave both empty)")
    days = _days_between(start, end)
    if days > DENY_MAINTENANCE_MAX_DAYS:
        raise read.fail(
            Key.DENY_MAINTENANCE_END,
            f"is {days} days after {Key.DENY_MAINTENANCE_START}: "
            f"Cloud SQL allows at most {DENY_MAINTENANCE_MAX_DAYS}",
        )
    return start, end


def _days_between(start: str, end: str) -> int:
    """Days from one month-day to the next occurrence of another (a freeze may span New Year)."""
    year = 2001  # not a leap year; the freeze recurs every year
    first = date(year, *map(int, start.split("-")))
    last = date(year, *map(int, end.split("-")))
    if last < first:
        last = last.replace(year=year + 1)
    return (last - first).days
