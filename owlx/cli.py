"""The ``owlx`` command.

``owlx [PATH[::/dataset/path]] [--live] [--fresh] [--debug]`` opens the viewer;
``owlx demo [--screenshot PNG]`` opens it on the built-in demo dataset;
``owlx info FILE`` prints the file's tree with shapes, dtypes and which datasets are stacks;
``owlx plugins`` lists the installed plugins; ``owlx tags FILE`` lists tags and counts;
``owlx fit FILE`` sizes spheres (inline or on dask);
``owlx results FILES -o DIR --results`` exports the sizes of tagged hits (:mod:`owlx.cli_results`).

Errors a user can cause print one line and exit with status 2; ``--debug`` adds tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .errors import OwlxError

SUBCOMMANDS = ("demo", "info", "plugins", "tags", "fit", "results")


def _split_dataset(path: str) -> tuple[str, str | None]:
    """``file.cxi::/entry_1/data_1/data`` → (file, dataset), as silx view accepts."""
    if "::" in path:
        file, dataset = path.split("::", 1)
        return file, dataset or None
    return path, None


def _gui_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="owlx",
        description="Viewer and analysis workbench for diffraction and EM image stacks. "
        "Subcommands: " + ", ".join(SUBCOMMANDS) + " (owlx SUBCOMMAND --help).",
    )
    p.add_argument("path", nargs="*", help="file to open, optionally FILE::/dataset/path; several numbered files open as one series")
    p.add_argument("--live", action="store_true",
                   help="follow an HDF5 file that is still being written (SWMR read mode, polled for new frames)")
    p.add_argument("--fresh", action="store_true", help="ignore stored settings for this run")
    p.add_argument("--debug", action="store_true", help="verbose logging and tracebacks")
    p.add_argument("--screenshot", metavar="PNG", help="render the window offscreen to PNG and exit")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    return p


def _cmd_gui(argv: list[str]) -> int:
    args = _gui_parser().parse_args(argv)
    _logging(args.debug)
    if args.version:
        from . import __version__

        print(f"owlx {__version__}")
        return 0
    path = dataset = None
    if args.path:
        if len(args.path) == 1:
            path, dataset = _split_dataset(args.path[0])
        else:
            path = args.path
    from .gui.app import run_gui

    return run_gui(path, dataset=dataset, live=args.live, fresh=args.fresh, screenshot=args.screenshot)


def _cmd_demo(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="owlx demo", description="Write (once) and open the built-in demo dataset.")
    p.add_argument("--screenshot", metavar="PNG", help="render the window offscreen to PNG and exit")
    p.add_argument("--path", action="store_true", help="only print the demo file's path (writing it if needed)")
    p.add_argument("--fresh", action="store_true", help="ignore stored settings for this run")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    _logging(args.debug)
    from .demo import demo_path, ensure_demo

    if not demo_path().exists():
        print(f"writing the demo dataset to {demo_path()} (once)…", file=sys.stderr)
    path = ensure_demo(progress=_progress_printer("demo frames"))
    if args.path:
        print(path)
        return 0
    from .gui.app import run_gui

    return run_gui(str(path), fresh=args.fresh, screenshot=args.screenshot)


def _cmd_info(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="owlx info", description="Print a file's tree: shapes, dtypes, stacks.")
    p.add_argument("file", nargs="+", help="file (several numbered files form one series)")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    _logging(args.debug)
    from .io.describe import describe_source
    from .plugin import open_source

    target = args.file[0] if len(args.file) == 1 else args.file
    with open_source(target) as source:
        print(describe_source(source))
    return 0


def _progress_printer(what: str):
    state = {"last": -1}

    def progress(done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if pct != state["last"] and sys.stderr.isatty():
            state["last"] = pct
            print(f"\r{what}: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    return progress


def _logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _cmd_plugins(argv: list[str]) -> int:
    """``owlx plugins``: every plugin of the `owlx.plugins` entry-point group, its version and
    what it contributes, or why it failed to load. Exit status 1 when one failed."""
    parser = argparse.ArgumentParser(prog="owlx plugins", description=_cmd_plugins.__doc__)
    parser.parse_args(argv)
    from .plugin import discover

    loaded = discover()
    for lp in loaded:
        if lp.plugin is None:
            print(f"{lp.entry_point:<12} failed to load: {lp.error}")
            continue
        p = lp.plugin
        parts = [f"panels: {', '.join(x.title for x in p.panels)}" if p.panels else "",
                 f"commands: {', '.join(x.name for x in p.commands)}" if p.commands else "",
                 f"readers: {', '.join(x.name for x in p.readers)}" if p.readers else ""]
        print(f"{lp.entry_point:<12} {p.version:<8} {p.name}: " + "; ".join(x for x in parts if x))
    if not loaded:
        print("no plugins installed")
    return 1 if any(lp.plugin is None for lp in loaded) else 0


def _plugin_command(name: str):
    """The plugin subcommand ``name`` (owlx.plugin.Command), or None. Plugins are only imported
    when the first argument is neither a built-in command nor an existing path."""
    from .plugin import commands

    return next((c for c in commands() if c.name == name), None)


def _run_plugin_command(command, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"owlx {command.name}", description=command.help)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    command.configure(parser)
    args = parser.parse_args(argv)
    _logging(args.debug)
    return int(command.run(args) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    commands = {
        "demo": _cmd_demo,
        "info": _cmd_info,
        "plugins": _cmd_plugins,
        # imported on use: `owlx info` should not pay for dask or the fitting kernels
        "tags": lambda args: importlib.import_module("owlx.cli_tags").main(args),
        "fit": lambda args: importlib.import_module("owlx.cli_fit").main(args),
        "results": lambda args: importlib.import_module("owlx.cli_results").main(args),
    }
    try:
        if argv and argv[0] in commands:
            return commands[argv[0]](argv[1:])
        if argv and not argv[0].startswith("-") and not os.path.exists(argv[0]):
            plugin_command = _plugin_command(argv[0])
            if plugin_command is not None:
                return _run_plugin_command(plugin_command, argv[1:])
        return _cmd_gui(argv)
    except OwlxError as exc:
        if debug:
            raise
        print(f"owlx: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"owlx: error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 1
