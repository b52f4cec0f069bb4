"""``carbonfin sample generate``: regenerate the sample market deterministically."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from carbonfin.cli._common import clean_errors, console
from carbonfin.data.schema import sample_dir

sample_app = typer.Typer(help="The sample market shipped with carbonfin.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(sample_app, name="sample")


@sample_app.command("generate")
@clean_errors
def generate_cmd(
    directory: Annotated[
        Path | None,
        typer.Argument(help="output directory (default: the package's sample directory)"),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="random seed (default: the seed of the shipped files)")
    ] = None,
) -> None:
    """Generate the sample market files (same seed, same bytes) and their manifest."""
    # imported here: the generator is heavy and only this command needs it
    import carbonfin.data.generate as generator

    seed = generator.DEFAULT_SEED if seed is None else seed
    target = directory or sample_dir()
    target.mkdir(parents=True, exist_ok=True)
    with Progress(
        TextColumn("[bold]generating[/] {task.description:<20}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        hashes = generator.generate(target, seed=seed, progress=progress)
    for name, digest in sorted(hashes.items()):
        console.print(f"{target / name}  sha256 {digest[:16]}…")
