"""salarynet: the Keras salary tutorial, done correctly and fast, in JAX.

From Python: load_survey(), SalaryNet(recipe, **overrides).fit(frame), load(run_folder) (see salarynet.api).
"""

__version__ = "0.1.0"
__all__ = ["SalaryNet", "load", "load_survey", "__version__"]


def __getattr__(name: str):
    """The API on first use: `import salarynet` alone loads neither JAX nor pandas."""
    if name in ("SalaryNet", "load", "load_survey"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'salarynet' has no attribute {name!r}")
