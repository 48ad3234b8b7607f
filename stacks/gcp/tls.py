"""How every connection to Cloud SQL checks who answers: every CA certificate of the instance, the
current one and the upcoming one of a rotation (`gcp.sql.get_ca_certs`), stored in Secret Manager,
mounted into each container that connects (the migration job, the app when it reaches the
instance, the PgBouncer sidecar), and libpq (PgBouncer) told to verify the server's certificate
against them.

`verify-ca`, not `verify-full`: the containers reach the instance by its private IP, which the
certificate of a Cloud SQL instance's own CA does not name (it names `<project>:<instance>`), so
the host name check of verify-full would fail; the chain check is what matters here, and it is
what `sslmode=require` lacks (it encrypts, but would talk to anyone on the path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SSL_MODE = "verify-ca"
# What a client may use to reach Cloud SQL: the modes that check the server's certificate.
VERIFYING_MODES = ("verify-ca", "verify-full")
# Every container mounts the CA bundle here (one secret volume of one file).
CA_DIR = "/etc/pgstack-db-ca"
CA_FILE = "server-ca.pem"
CA_PATH = f"{CA_DIR}/{CA_FILE}"
CA_VOLUME = "db-server-ca"


def libpq_env() -> dict[str, str]:
    """The variables libpq (psycopg) reads when a URL does not say: verify the server, with this CA."""
    return {"PGSSLMODE": SSL_MODE, "PGSSLROOTCERT": CA_PATH}


def ca_bundle(certs: Sequence[Any] | None) -> str:
    """Every CA certificate of the instance as one PEM file: `gcp.sql.get_ca_certs` lists the current
    CA and, during a rotation, the upcoming one, so a client keeps verifying the server when its
    certificate is signed by either (the instance's own `serverCaCerts` lists the current one only).
    The bundle follows a rotation on the next `pulumi up` after Cloud SQL adds the upcoming CA."""
    pems = []
    for cert in certs or []:
        pem = cert.get("cert") if isinstance(cert, dict) else getattr(cert, "cert", None)
        if pem:
            pems.append(str(pem).strip() + "\n")
    return "".join(pems)
