"""Errors meant for people: the CLI prints them as one line and exits non-zero, never a traceback."""


class SegnetError(Exception):
    """A user-facing error: the message says what was wrong (file or value) and what to do."""

    exit_code = 2


class MissingDependencyError(SegnetError):
    """An optional component (torch, onnxruntime, tensorrt, cuda-python, a GPU) is not available here."""

    exit_code = 3


class DataError(SegnetError):
    """A dataset file is missing, unreadable or inconsistent; the message names the file."""
