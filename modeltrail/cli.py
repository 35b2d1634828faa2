"""Entry point of the `modeltrail` console script."""

from __future__ import annotations

import typer

from modeltrail import __version__
from modeltrail.cmd_keys import keys_app, teams_app, users_app
from modeltrail.cmd_policy import app as policy_app
from modeltrail.cmd_query import app as query_app
from modeltrail.cmd_schemas import app as schemas_app
from modeltrail.cmd_sessions import app as sessions_app
from modeltrail.cmd_spend import spend
from modeltrail.cmd_stack import app as stack_app

app = typer.Typer(
    name="modeltrail",
    help="CloudTrail for AI traffic: audit, judge and kill LLM sessions.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(stack_app)
app.add_typer(query_app)
app.add_typer(policy_app, name="policy")
app.add_typer(schemas_app, name="schemas")
app.add_typer(sessions_app, name="sessions")
app.add_typer(keys_app, name="keys")
app.add_typer(teams_app, name="teams")
app.add_typer(users_app, name="users")
app.command("spend")(spend)


@app.command()
def version() -> None:
    """Print the modeltrail version."""
    typer.echo(__version__)


def main() -> None:
    """Run the CLI."""
    app()


if __name__ == "__main__":
    main()
