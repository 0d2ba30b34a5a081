"""Errors that reach a person at the command line: one clear line, never a traceback."""


class BenchlabError(Exception):
    """An error whose message is written for the user and is safe to print as is."""


class ConfigError(BenchlabError):
    """A `BENCHLAB_*` setting is malformed; the message names the variable and how to fix it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class StoreUnavailableError(BenchlabError):
    """A store could not be reached or started; the message names the setting that points at it."""

    def __init__(self, variable: str, target: str, problem: str) -> None:
        super().__init__(f"{variable}: cannot use {target}: {problem}")
        self.variable = variable


class DataDirBusyError(BenchlabError):
    """Another benchlab process owns the data directory (chDB allows one engine per directory)."""
