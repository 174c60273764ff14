"""The ``videogen`` command: a thin shell over the library.

Each subcommand is a small handler ``(args) -> exit code`` registered in ``build_parser``.
A user never sees a traceback for a bad spec: every problem is one line on stderr naming the
file and the field, and the exit code is 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from videogen_dagster import __version__
from videogen_dagster.domain.chunk_plan import plan_chunks
from videogen_dagster.domain.errors import SpecError
from videogen_dagster.domain.spec import VideoSpec, load_spec
from videogen_dagster.domain.validation import validate_spec
from videogen_dagster.settings import (
    DEFAULT_CHUNK_SECONDS,
    DEFAULT_STORE,
    STORE_ENV,
    resolve_store_uri,
    s3_settings_from_env,
)
from videogen_dagster.store.base import StoreUnavailableError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
#: Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: The store (``--store`` / ``VIDEOGEN_STORE``) cannot be used: checked before any run starts.
EXIT_STORE = 3
#: Commands that write to the store, whose store is checked before they do anything else.
_WRITES_TO_STORE = {"render", "register"}


def build_parser() -> argparse.ArgumentParser:
    """The parser with one subparser per command; each sets ``handler`` to its function."""
    parser = argparse.ArgumentParser(
        prog="videogen",
        description="Turn a video spec (YAML or JSON) into a finished video.",
        epilog=(
            f"Exit status: {EXIT_OK} success; {EXIT_FAILED} a render failed; {EXIT_INVALID} a "
            f"spec or an argument was invalid; {EXIT_STORE} the store cannot be used (a file, "
            "not a folder; a folder you cannot write to; a missing bucket; refused "
            "credentials; an unreachable endpoint), said in one line before anything runs."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check spec files and show the video each one makes",
        description=(
            "Check each SPEC and print, as a JSON list, its validated spec (beats with index, "
            "start and duration) and chunk plan. Fixes applied to a spec (too many beats, "
            "durations fitted to the video) are warnings on stderr. Writes no file. "
            "Exit status 0 when all are valid, 2 otherwise."
        ),
    )
    validate.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="a .yaml/.json file")
    validate.add_argument(
        "--clip-lengths",
        type=_clip_lengths,
        default=(DEFAULT_CHUNK_SECONDS,),
        metavar="SECONDS[,SECONDS...]",
        help=f"clip lengths the provider makes, for the chunk plan (default: "
        f"{DEFAULT_CHUNK_SECONDS:g})",
    )
    validate.set_defaults(handler=_validate)

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of the spec format",
        description="Print the JSON Schema of a spec file, with a description of every field.",
    )
    schema.set_defaults(handler=_schema)

    render = commands.add_parser(
        "render",
        help="register spec files and render them into videos",
        description=(
            "Register each SPEC with the store and render all of them at once on the Dagster "
            "instance in $DAGSTER_HOME (./dagster_home when unset), printing progress per video "
            "on stderr and the path of each final video on stdout. A bad spec is reported and "
            "the others still render. Exit status 0 when all rendered, 1 when a render failed, "
            "2 when a spec was invalid, 3 when the store cannot be used (checked first)."
        ),
    )
    render.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="a .yaml/.json file")
    _add_store_option(render)
    render.add_argument(
        "--storyboard-only",
        action="store_true",
        help="make only the storyboard images and contact sheet (printed on stdout) and stop, "
        "to review before paying for clips; a later full render reuses the images from the cache",
    )
    render.set_defaults(handler=_render)

    register = commands.add_parser(
        "register",
        help="register spec files without rendering (for dagster job execute or the UI)",
        description=(
            "Validate each SPEC, copy it into the store and add its partition to the Dagster "
            "instance, so the render_video job can run it from the UI or `dagster job execute`. "
            "Each file is registered or refused on its own; two files of one video id are both "
            "refused. Exit status 0, 2 when a spec was invalid (the others are registered), 3 "
            "when the store cannot be used."
        ),
    )
    register.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="a .yaml/.json file")
    _add_store_option(register)
    register.set_defaults(handler=_register)

    estimate = commands.add_parser(
        "estimate",
        help="show what rendering spec files would cost, without calling any paid API",
        description=(
            "Print, per video and per beat, what `videogen render` would pay with the chosen "
            "providers (planner, images, clips with the lengths generated, music), what is "
            "already in the store's cache ($0), and the total. Providers come from the same "
            "VIDEOGEN_* variables as render; the options below override them. No API key is "
            "needed. Exit status 0, or 2 when a spec is invalid."
        ),
    )
    estimate.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="a .yaml/.json file")
    _add_store_option(estimate)
    estimate.add_argument("--planner", metavar="BACKEND", help="beat planner (local, openai)")
    estimate.add_argument("--images", metavar="BACKEND", help="image backend (local, openai)")
    estimate.add_argument("--clips", metavar="BACKEND", help="clip backend (local, runway, ...)")
    estimate.add_argument(
        "--clips-model", metavar="MODEL", help="the clip backend's model, e.g. gen4.5"
    )
    estimate.set_defaults(handler=_estimate)
    return parser


def _add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="DIR_OR_S3_URI",
        help=f"where videos are written (default: ${STORE_ENV}, else {DEFAULT_STORE})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in _WRITES_TO_STORE:
            _check_store(args.store)
        return args.handler(args)
    except StoreUnavailableError as exc:
        print(f"videogen {args.command}: {exc}", file=sys.stderr)
        return EXIT_STORE
    except BrokenPipeError:
        # The reader (head, less) stopped early; as the Python docs advise, point stdout at
        # devnull so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _check_store(flag: str | None) -> None:
    """``StoreUnavailableError`` unless the store can be written, before any run is started."""
    from videogen_dagster.store.factory import open_store

    open_store(resolve_store_uri(flag), **s3_settings_from_env()).check_usable()


def _validate(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    status = EXIT_OK
    for path in args.specs:
        try:
            video_id, spec = load_spec(path)
        except SpecError as exc:
            print(exc, file=sys.stderr)
            status = EXIT_INVALID
            continue
        # No record_truncation: validating writes nothing; the fixes are reported below.
        with _domain_warnings_kept_quiet():
            validated = validate_spec(spec, video_id)
        for note in validated.adjustments:
            print(f"{path}: warning: {note}", file=sys.stderr)
        results.append(
            {
                "file": str(path),
                "video_id": video_id,
                "spec": validated.model_dump(mode="json"),
                "chunk_plan": plan_chunks(validated, args.clip_lengths).to_dict(),
            }
        )
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return status


def _register(args: argparse.Namespace) -> int:
    from videogen_dagster import commands
    from videogen_dagster.instance import get_instance

    instance = get_instance()
    video_ids, errors = commands.register(args.specs, resolve_store_uri(args.store), instance)
    for error in errors:
        print(error, file=sys.stderr)
    for video_id in video_ids:
        print(video_id)
    return EXIT_INVALID if errors else EXIT_OK


def _render(args: argparse.Namespace) -> int:
    from videogen_dagster import fork_server

    fork_server.start()  # before Dagster is imported here: the two imports overlap
    from videogen_dagster import commands
    from videogen_dagster.instance import get_instance

    instance = get_instance()
    try:
        outcomes, errors = commands.render(
            args.specs,
            resolve_store_uri(args.store),
            instance,
            storyboard_only=args.storyboard_only,
        )  # a bad spec's errors are printed on stderr before the other specs start rendering
    except KeyboardInterrupt:  # each run process sees this process end and stops its run
        print("videogen: interrupted; its runs stop, its queued runs are canceled", file=sys.stderr)
        return EXIT_INTERRUPTED
    for outcome in outcomes:
        if outcome.success:
            print(outcome.final_uri)
        else:
            print(f"{outcome.video_id}: render failed (run {outcome.run_id})", file=sys.stderr)
            for message in outcome.errors:
                print(f"  {message}", file=sys.stderr)
    if errors:
        return EXIT_INVALID
    return EXIT_OK if all(outcome.success for outcome in outcomes) else EXIT_FAILED


def _estimate(args: argparse.Namespace) -> int:
    from videogen_dagster.pipeline.estimate import EstimateError, estimate_files

    overrides = {
        "VIDEOGEN_PLANNER": args.planner,
        "VIDEOGEN_IMAGES": args.images,
        "VIDEOGEN_CLIPS": args.clips,
        "VIDEOGEN_CLIPS_MODEL": args.clips_model,
    }
    # The flags mean "as if rendered with these variables": the render's own configuration path.
    env = {**os.environ, **{name: value for name, value in overrides.items() if value}}
    try:
        with _domain_warnings_kept_quiet():
            answer = estimate_files(args.specs, resolve_store_uri(args.store), env)
    except EstimateError as exc:
        print(f"videogen estimate: {exc}", file=sys.stderr)
        return EXIT_INVALID
    for line in answer.lines:
        print(line)
    for message in answer.errors:
        print(message, file=sys.stderr)
    return EXIT_INVALID if answer.errors else EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(VideoSpec.model_json_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK


def _clip_lengths(text: str) -> tuple[float, ...]:
    try:
        lengths = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of seconds"
        ) from None
    if not all(0 < length <= 600 for length in lengths):
        raise argparse.ArgumentTypeError(f"{text!r}: each clip length must be in (0, 600] s")
    return lengths


@contextmanager
def _domain_warnings_kept_quiet() -> Iterator[None]:
    """Keep the domain's WARNING logs off stderr while the command prints the same notes itself.

    Without a handler, Python would print each one a second time, without the file name.
    """
    domain_logger = logging.getLogger("videogen_dagster.domain")
    quiet = logging.NullHandler()
    propagate = domain_logger.propagate
    domain_logger.addHandler(quiet)
    domain_logger.propagate = False
    try:
        yield
    finally:
        domain_logger.propagate = propagate
        domain_logger.removeHandler(quiet)
