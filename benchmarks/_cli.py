"""Command-line flags for the benchmark scripts, read off their ``Args`` dataclass (CleanRL style).

Every benchmark keeps its settings in one documented dataclass at the top of the file; this turns
its fields into ``--kebab-case`` flags so the scripts stay single files without each repeating the
same argparse loop. Run a script as ``python benchmarks/bench_<topic>.py`` (its folder is then on
``sys.path``, which is how it finds this module).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TypeVar

T = TypeVar("T")


def parse_args(cls: type[T], doc: str | None, argv: list[str] | None = None) -> T:
    """``cls`` filled from the command line; a ``bool`` field becomes ``--flag/--no-flag``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    return cls(**vars(parser.parse_args(argv)))
