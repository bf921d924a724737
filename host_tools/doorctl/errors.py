"""Errors the CLI prints as one line (`doorctl: error: ...`, exit 1) instead of a traceback."""


class CliError(Exception):
    pass
