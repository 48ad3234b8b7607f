"""Faults: killed commands, corrupt markers, races and broken pipes, each reproduced on real Postgres
and PgBouncer (signals sent to the real processes), and the safe state each must leave."""
