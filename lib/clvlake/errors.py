"""Errors a user can act on. The CLI prints them without a traceback and exits 2."""


class ClvError(Exception):
    """Base class for problems with configuration or input that the user can fix."""


class ConfigError(ClvError):
    """A configuration file is missing, malformed, or has unknown or missing keys."""


class InputError(ClvError):
    """Input data or arguments are unusable (missing files, bad dates, empty tables...)."""


class ConflictError(ClvError):
    """Another job kept committing conflicting changes to a table; rerunning later is safe (writes are idempotent)."""


class QualityError(ClvError):
    """A data-quality threshold was breached; the job stops before writing further."""


class DegenerateFitError(InputError):
    """A statistical model's likelihood has no interior maximum on this data (e.g. BG/NBD without dropout)."""
