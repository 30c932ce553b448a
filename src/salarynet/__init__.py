"""salarynet: the Keras salary tutorial, done correctly and fast, in JAX.

From Python: load_survey(), SalaryNet(recipe, **overrides).fit(frame), load(run_folder) (salarynet.estimator).
"""

__version__ = "0.1.0"
__all__ = ["SalaryNet", "load", "load_survey", "__version__"]

_LAZY = {"SalaryNet": "estimator", "load": "estimator", "load_survey": "data.source"}


def __getattr__(name: str):
    """The API on first use: `import salarynet` alone loads neither JAX nor pandas."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'salarynet' has no attribute {name!r}")
