"""How every connection to Cloud SQL checks who answers: the instance's server CA certificates (an
output of the instance) stored in Secret Manager, mounted into each container that connects (the
migration job, the app when it reaches the instance, the PgBouncer sidecar), and libpq (PgBouncer)
told to verify the server's certificate against them.

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
    """The instance's server CA certificates as one PEM file. Each certificate listed is kept, but the
    provider fills the instance's `serverCaCerts` from its current CA only: the upcoming one of a CA
    rotation is not in it, so a rotation is not covered yet (`gcp.sql.get_ca_certs` lists every CA
    of the instance; building the bundle from it is still to do, with a rehearsal against two)."""
    pems = []
    for cert in certs or []:
        pem = cert.get("cert") if isinstance(cert, dict) else getattr(cert, "cert", None)
        if pem:
            pems.append(str(pem).strip() + "\n")
    return "".join(pems)
