"""Cloud addresses and paths moved to their stand-ins; an address nothing serves is a contract break."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.rehearse.relocate import ContractBreak, Relocation

PRIVATE_IP = "192.0.2.10"


def _relocation() -> Relocation:
    return Relocation(
        addresses={(PRIVATE_IP, 5432): ("127.0.0.1", 40001)},
        names={(PRIVATE_IP, 5432): "Cloud SQL"},
        paths={"/etc/pgbouncer-auth": Path("/stand-in/auth")},
    ).within([(6432, "the sidecar's probed port")])


def test_urls_keep_everything_but_the_address() -> None:
    relocation = _relocation()
    url = f"postgresql+psycopg://app:pw@{PRIVATE_IP}:5432/app?sslmode=require"
    assert "postgresql+psycopg://app:pw@127.0.0.1:40001/app?sslmode=require" == relocation.url(url, "env")
    moved, taken = relocation.secret("postgresql+psycopg://app:pw@127.0.0.1:6432/app", "env")
    sidecar = relocation.addresses[("127.0.0.1", 6432)][1]
    assert f"postgresql+psycopg://app:pw@127.0.0.1:{sidecar}/app" == moved
    assert "a URL of the sidecar's probed port" == taken


def test_an_address_nothing_serves_is_a_contract_break() -> None:
    with pytest.raises(ContractBreak, match=r"env DATABASE_URL points at 127.0.0.1:6433, which nothing"):
        _relocation().url("postgresql://app:pw@127.0.0.1:6433/app", "env DATABASE_URL")
    with pytest.raises(ContractBreak, match=r"192.0.2.10:6432"):  # no managed pooler in this mode
        _relocation().url(f"postgresql://app:pw@{PRIVATE_IP}:6432/app", "env DATABASE_URL")


def test_a_pgbouncer_ini_is_relocated_line_by_line() -> None:
    relocation = _relocation()
    ini = (
        "[databases]\n"
        f"app = host={PRIVATE_IP} port=5432 dbname=app\n"
        "[pgbouncer]\n"
        ";; a comment = kept\n"
        "listen_addr = 0.0.0.0\n"
        "listen_port = 6432\n"
        "auth_file = /etc/pgbouncer-auth/userlist.txt\n"
        "pool_mode = transaction\n"
    )
    moved = relocation.ini(ini, "pgbouncer.ini").splitlines()
    sidecar = relocation.addresses[("127.0.0.1", 6432)][1]
    assert "app = host=127.0.0.1 port=40001 dbname=app" == moved[1]
    assert ";; a comment = kept" == moved[3]
    assert ["listen_addr = 127.0.0.1", f"listen_port = {sidecar}"] == moved[4:6]
    assert "auth_file = /stand-in/auth/userlist.txt" == moved[6]
    assert "pool_mode = transaction" == moved[7]
    with pytest.raises(ContractBreak, match=r"listen_port points at 0\.0\.0\.0:6433"):
        relocation.ini(ini.replace("6432", "6433"), "pgbouncer.ini")
