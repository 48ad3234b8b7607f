"""Rollout compatibility (`db.compat --base REF`): does the code at REF, the serving release, still
work on the schema this tree's migrations leave after the deploy's job (the expand phase)?

checkout (REF's worktree and its virtualenv, cached by its lock's hash), database (a throwaway one),
static (REF's models against the migrated schema), probe (one process inside REF's virtualenv: its
models, a create/read/update/delete round trip, its app served), running (that process driven from
here, the app's health endpoints asked over HTTP), report
(findings BREAKING or RISK as a table, JSON or Markdown), run (the whole check: `compat(...)`, what
the task and the deploy call).

A dev and deploy-time wing (never in the image). Its imports: contract `ops-wings` (below
`ops.deploy`, whose preflight runs it; above `ops.smoke`, the app server, and `ops.local`, the
throwaway cluster).
"""
