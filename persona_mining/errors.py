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
