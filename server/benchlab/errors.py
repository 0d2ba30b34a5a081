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


class NotFoundError(BenchlabError):
    """The entity does not exist in the caller's project (other projects' entities are reported alike)."""


class ConflictError(BenchlabError):
    """The request clashes with stored state (a taken name, an archived entity, an immutable version);
    the message says what exists and what to do instead."""


class InvalidInputError(BenchlabError):
    """A command's input is invalid; `problems` lists each one as `path: what is wrong and how to fix it`.

    Kept apart from the spec's SpecError, whose text introduces itself as an experiment spec problem:
    a provider or a dataset import is not a spec. The API maps both to BAD_USER_INPUT with the problems.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
