"""The command line: ``python -m fewshot_utils <command>``.

* ``data``: prepare a dataset (download, extract, cache) and describe its splits;
* ``pretrain``: supervised pretraining of Conv4, written to a checkpoint
  (:mod:`fewshot_utils.cli.data_and_pretraining`);
* ``evaluate``, ``benchmark``, ``predict``: few-shot classification
  (:mod:`fewshot_utils.cli.fewshot`);
* ``student-copies``: the notebooks without their solutions, for a workshop.
"""

from __future__ import annotations

import argparse
import sys

from fewshot_utils.cli import checks, data_and_pretraining, fewshot
from fewshot_utils.data.omniglot import OmniglotUnavailable


def run_student_copies(args: argparse.Namespace) -> int:
    from fewshot_utils.exercises.student_copies import write_all

    return write_all(args.notebooks, args.out, args.clear_outputs)


def build_parser() -> argparse.ArgumentParser:
    from fewshot_utils.exercises.student_copies import add_arguments

    parser = argparse.ArgumentParser(
        prog="python -m fewshot_utils", description="Few-shot learning course helpers."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    data_and_pretraining.add_subcommands(commands)
    fewshot.add_subcommands(commands)
    copies = commands.add_parser(
        "student-copies", help="write the notebooks with their solutions left out"
    )
    add_arguments(copies)
    copies.set_defaults(run=run_student_copies)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; return its exit status.

    0: done; 2: a bad input (argparse's own messages, or ``error: ...`` saying what to
    fix), found before any work starts wherever it can be (:mod:`fewshot_utils.cli.checks`);
    1: the computer failed (disk full, no permission); 130: interrupted (Ctrl-C), with one
    line saying what was written and what is unchanged. Never a traceback for any of these.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args, before = None, {}
    try:
        args = build_parser().parse_args(argv)
        args.argv = argv
        checks.check_paths(args)  # before any work starts
        before = checks.output_states(args)
        return args.run(args)
    except KeyboardInterrupt:
        with checks.ctrl_c_ignored():  # pressing it again must not break the last line
            checks.close_progress_bars()
            print(checks.interrupted(args, before), file=sys.stderr)
        return 130
    except (OmniglotUnavailable, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except MemoryError:
        print(
            "error: not enough memory for this command: ask for fewer episodes or a smaller "
            "--batch-size, or close other programs",
            file=sys.stderr,
        )
        return 1
    except OSError as error:
        print(f"error: {checks.describe_os_error(error)}", file=sys.stderr)
        return 1
