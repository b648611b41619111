"""argparse types shared by the commands: bad values are usage errors (exit 2) with a clear message."""

from __future__ import annotations

import argparse

# Larger outputs take minutes and gigabytes for no visible gain (the drawing is made at 512²).
MAX_OUTPUT_SIZE = 8192


def positive_int(text: str) -> int:
    """An integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def output_size(text: str) -> int:
    """An output side in pixels, 1..MAX_OUTPUT_SIZE."""
    value = positive_int(text)
    if value > MAX_OUTPUT_SIZE:
        raise argparse.ArgumentTypeError(f"at most {MAX_OUTPUT_SIZE}, got {value}")
    return value
