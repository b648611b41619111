"""argparse types shared by the commands: bad values are usage errors (exit 2) with a clear message."""

from __future__ import annotations

import argparse
import re

# Larger outputs take minutes and gigabytes for no visible gain (the drawing is made at 512²).
MAX_OUTPUT_SIZE = 8192


def _int(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}" if minimum == 1 else f"must be >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer > 0."""
    return _int(text, 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    return _int(text, 0)


def output_size(text: str) -> int:
    """An output side in pixels, 1..MAX_OUTPUT_SIZE."""
    value = positive_int(text)
    if value > MAX_OUTPUT_SIZE:
        raise argparse.ArgumentTypeError(f"at most {MAX_OUTPUT_SIZE}, got {value}")
    return value


def finite_float(text: str) -> float:
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


# What `apdraw draw --format` may write, in the order the files are claimed.
OUTPUT_FORMATS = ("png", "svg", "gcode")


def output_formats(text: str) -> tuple[str, ...]:
    """Comma-separated output formats (png, svg, gcode), e.g. ``png,svg``: a tuple without repeats, in OUTPUT_FORMATS order."""
    items = [t.strip().lower() for t in text.split(",")]
    bad = [t for t in items if t not in OUTPUT_FORMATS]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"unknown format {', '.join(map(repr, bad)) or repr(text)}; "
                                         f"choose from {', '.join(OUTPUT_FORMATS)}, comma-separated (e.g. png,svg)")
    return tuple(f for f in OUTPUT_FORMATS if f in items)


def paper_size(text: str) -> str:
    """A paper name (A4, letter, ...) or WIDTHxHEIGHT in mm; returned as given once it parses."""
    from apdraw.vector.config import parse_paper

    try:
        parse_paper(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def style_name(text: str) -> str:
    """A registered style, optionally with its argument (``qmupd:1``, ``qmupd:0.5,0.5,0``, ``qmupd:all``)."""
    from apdraw.registry import UnknownNameError
    from apdraw.styles import STYLES, parse_artist_style, parse_style

    try:
        name, options = parse_style(text)
        if "artist_style" in options:
            parse_artist_style(options["artist_style"])
    except (UnknownNameError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{exc} (styles: {', '.join(STYLES.names())})") from None
    return text


def allow_negative_number_lists(parser: argparse.ArgumentParser) -> None:
    """Let option values such as ``--yaws -30,-15`` through.

    argparse takes a value that starts with "-" and is not a plain negative number for an
    option; this widens its (private) negative-number pattern to comma-separated lists.
    ``--yaws=-30,-15`` works either way.
    """
    if hasattr(parser, "_negative_number_matcher"):
        parser._negative_number_matcher = re.compile(r"^-\d+(?:\s*,\s*[+-]?\d+)*$|^-\d*\.\d+$")
