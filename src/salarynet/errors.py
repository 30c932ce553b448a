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


def first_problem(error: Exception, unknown_first: bool = False) -> tuple[str, str, dict]:
    """A pydantic ValidationError's first error as (where: its dotted location, message: pydantic's words without
    their "Value error, " prefix, the error itself): the one line every schema check words its refusal from.
    unknown_first: a name the schema does not know (a misspelling) comes before the errors it causes."""
    errors = error.errors(include_url=False)
    if unknown_first:
        errors = sorted(errors, key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    return ".".join(str(p) for p in first["loc"]), first["msg"].removeprefix("Value error, "), first
