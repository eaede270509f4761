"""One error hierarchy whose messages say what happened and what to do about it."""

from __future__ import annotations


class PersonaMiningError(Exception):
    """Base class of every error the library raises on purpose."""


class ConfigError(PersonaMiningError):
    """The configuration file or an option is invalid."""


class InputFileError(PersonaMiningError):
    """An input file cannot be read as what it claims to be (names the file and the fix)."""


class WarehouseError(PersonaMiningError):
    """The DuckDB warehouse cannot be opened or is not in the expected state."""


class WarehouseBusyError(WarehouseError):
    """Another process holds the warehouse file open for writing."""


class ModelError(PersonaMiningError):
    """A model (spaCy, embedding, topic model) is missing or cannot be used."""


class StageError(PersonaMiningError):
    """A pipeline stage cannot run on the data it was given."""


class StageFailedError(StageError):
    """A pipeline stage raised: names the stage; the warehouse keeps its state from before it."""

    def __init__(self, stage: str, cause: BaseException):
        self.stage = stage
        self.cause = cause
        if isinstance(cause, PersonaMiningError):
            why = str(cause)
        else:
            why = (
                f"unexpected {type(cause).__name__}: {cause} (a bug: the traceback is in the run "
                "log; please report it)"
            )
        super().__init__(
            f"stage '{stage}' failed: {why}; the warehouse keeps what it had before this stage "
            "(the stages before it are committed): fix the cause and run again"
        )


class OrchestrationError(PersonaMiningError):
    """The Prefect server or the scheduled deployments cannot be started or reached."""


class SourceError(PersonaMiningError):
    """A pulled source (the help desk's API, a database) failed; worth retrying later."""


class SourceAuthError(SourceError, ConfigError):
    """A pulled source refused the credentials: not retried (fix the token or password)."""
