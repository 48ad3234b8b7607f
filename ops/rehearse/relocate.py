"""Cloud addresses and paths moved to their local stand-ins: the rehearsal reads the URLs, configs
and env values the program renders for the cloud (Cloud SQL's private IP, an instance's loopback
ports, its secret volumes' mount paths) and rewrites each to where its stand-in runs here.

An address nothing of the stack serves is a contract break: the container would connect nowhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ops.local.processes import free_port

LOOPBACK = "127.0.0.1"
ANY_INTERFACE = "0.0.0.0"  # noqa: S104 - a value read from configs, never bound as such


class ContractBreak(Exception):
    """What a container did that Cloud Run would not accept; the message says what and where."""


@dataclass
class Relocation:
    """Cloud addresses and paths -> their local stand-ins, for URLs, configs and env values."""

    addresses: dict[tuple[str, int], tuple[str, int]]
    names: dict[tuple[str, int], str]  # what each cloud address is, for messages
    paths: dict[str, Path] = field(default_factory=dict)  # cloud directory -> local directory

    def address(self, host: str, port: int, where: str) -> tuple[str, int]:
        key = (LOOPBACK if host in (ANY_INTERFACE, "localhost") else host, port)
        if key not in self.addresses:
            known = ", ".join(f"{h}:{p} ({self.names[(h, p)]})" for h, p in self.addresses)
            raise ContractBreak(
                f"{where} points at {host}:{port}, which nothing of the stack serves (known: {known})"
            )
        return self.addresses[key]

    def url(self, text: str, where: str) -> str:
        from sqlalchemy.engine import make_url

        url = make_url(text)
        host, port = self.address(url.host or "", url.port or 5432, where)
        return url.set(host=host, port=port).render_as_string(hide_password=False)

    def path(self, value: str) -> str:
        """A path in a container -> the stand-in's, when it is under a relocated directory."""
        for cloud, local in sorted(self.paths.items(), key=lambda item: -len(item[0])):
            if value == cloud or value.startswith(cloud.rstrip("/") + "/"):
                return str(local) + value[len(cloud.rstrip("/")) :]
        return value

    def ini(self, text: str, where: str) -> str:
        """A pgbouncer.ini: its servers, its listening address and its file paths relocated."""
        out = []
        section = ""
        listen_addr = ANY_INTERFACE
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("[") and stripped.endswith("]"):
                section = stripped[1:-1]
            key, sep, value = line.partition("=")
            if not sep or stripped.startswith((";", "#")):
                out.append(line)
                continue
            key, value = key.strip(), value.strip()
            if section == "databases":
                out.append(f"{key} = {self._connstring(value, f'{where} [databases] {key}')}")
            elif key == "listen_addr":
                listen_addr = value
                out.append(f"listen_addr = {LOOPBACK}")  # the instance's interfaces are its loopback here
            elif key == "listen_port":
                _, port = self.address(listen_addr, int(value), f"{where} listen_port")
                out.append(f"listen_port = {port}")
            elif value.startswith("/"):
                out.append(f"{key} = {self.path(value)}")
            else:
                out.append(line)
        return "\n".join(out) + "\n"

    def _connstring(self, value: str, where: str) -> str:
        parts = dict(part.split("=", 1) for part in value.split())
        if "host" in parts:
            host, port = self.address(parts["host"], int(parts.get("port", 5432)), where)
            parts.update(host=host, port=str(port))
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def secret(self, content: str, where: str) -> tuple[str, str]:
        """A secret's content relocated, and what it was taken for."""
        if re.match(r"postgres(ql)?(\+\w+)?://", content):
            from sqlalchemy.engine import make_url

            url = make_url(content)
            cloud = (url.host or "", url.port or 5432)
            relocated = self.url(content, where)
            return (
                relocated,
                f"a URL of {self.names[(LOOPBACK if cloud[0] == ANY_INTERFACE else cloud[0], cloud[1])]}",
            )
        if "[pgbouncer]" in content:
            return self.ini(content, where), "a pgbouncer.ini"
        return content, "as is"

    def within(self, ports: list[tuple[int, str]]) -> Relocation:
        """This relocation plus an instance's own ports (its containers share one network
        namespace): each gets a free local port, on the loopback."""
        inner = Relocation(dict(self.addresses), dict(self.names), dict(self.paths))
        for port, what in ports:
            key = (LOOPBACK, port)
            if key not in inner.addresses:
                inner.addresses[key] = (LOOPBACK, free_port())
                inner.names[key] = what
        return inner
