"""The project's exception family: a user's mistake, said in one line."""


class SalarynetError(Exception):
    """A mistake the user can fix; the message names the file, column, value and a fix."""


class RecipeError(SalarynetError):
    """A recipe key or value is not allowed."""


class DataError(SalarynetError):
    """A data file cannot be read, or holds what the recipe cannot use."""


class ArtifactError(SalarynetError):
    """A run folder is missing, incomplete or tampered with."""


class NotFittedError(SalarynetError, ValueError, AttributeError):
    """A model used before fit() or load(): both ValueError and AttributeError, as scikit-learn's own
    NotFittedError is (hasattr(net, "classes_") is False before fit; `except ValueError` catches it)."""
