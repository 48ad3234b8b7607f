"""infra.bootstrap: what a new Google Cloud project needs once before its first deploy from CI."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from cli import edge
from cli.errors import reported


@task(
    help={
        "stack": "the cloud stack whose project to prepare: staging or prod",
        "repo": "the GitHub repository whose workflows deploy (owner/name; default: the origin remote)",
        "apply": "run the commands (as an owner of the project) instead of printing them",
    }
)
def bootstrap(c: Context, stack: str, repo: str = "", apply: bool = False) -> None:
    """Print (or --apply) the one-time gcloud commands a project needs before its first deploy."""
    from ops.deploy.bootstrap import apply as run
    from ops.deploy.bootstrap import commands, narrowing, repository
    from ops.deploy.sequence import cloud_stack

    with reported():
        root = edge.deploy_root()
        config = cloud_stack(stack, root)
        github = repository(repo, root)
        if apply:
            count = run(config, github, edge.say)
            edge.say(f"{count} command(s) done for {config.project}; after the first deploy, narrow actAs:")
        else:
            edge.say(f"# {config.project} for {github}: run these as an owner of the project (or --apply)")
            edge.say(
                f"PROJECT_NUMBER=$(gcloud projects describe {config.project} --format='value(projectNumber)')"
            )
            for command in commands(config, github):
                edge.say(f"# {command.why}\n{command.line()}")
            edge.say("# after the first deploy: actAs on the two runtime accounts only")
        for command in narrowing(config):
            edge.say(f"# {command.why}\n{command.line()}")
