"""``carbonfin sample generate``: regenerate the sample market deterministically."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carbonfin.cli._common import Report, command, progress_bar

sample_app = typer.Typer(help="The sample market shipped with carbonfin.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(sample_app, name="sample")


@sample_app.command("generate")
@command()
def generate_cmd(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="output directory (default: the package's sample directory)",
            file_okay=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(min=0, help="random seed (default: the seed of the shipped files)"),
    ] = None,
) -> Report:
    """Generate the sample market files (same seed, same bytes) and their manifest."""
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

    # imported here: the generator is heavy and only this command needs it
    import carbonfin.data.generate as generator
    from carbonfin.data.schema import sample_dir

    seed = generator.DEFAULT_SEED if seed is None else seed
    target = directory or sample_dir()
    target.mkdir(parents=True, exist_ok=True)
    with progress_bar(
        TextColumn("[bold]generating[/] {task.description:<20}"), BarColumn(), TimeElapsedColumn()
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        hashes = generator.generate(target, seed=seed, progress=progress)
    files = [
        {"file": str(target / name), "sha256": digest} for name, digest in sorted(hashes.items())
    ]
    return Report(
        {"directory": str(target), "seed": seed, "files": files},
        [f"{f['file']}  sha256 {f['sha256'][:16]}…" for f in files],
    )
