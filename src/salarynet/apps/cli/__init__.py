"""The command line: the only place that prints or exits. console.py first (it installs the Ctrl-C handler
before the heavy imports), then each group of commands, in the order `salarynet --help` lists them."""

import os
import sys

from .console import _Interrupted, app, checkpoint, err, uninterrupted  # noqa: F401  (first: see above)
from .training import evaluate, train  # noqa: F401
from .predicting import answers, predict, runs, summary  # noqa: F401
from .services import _log_config, _loopback, compare, data_info, report, serve, sweep  # noqa: F401


def main() -> None:
    """The `salarynet` program. After Ctrl-C it leaves at once with 130: the interpreter's own shutdown, with
    JAX's threads interrupted mid-work, can crash (exit 139) after everything was already said and cleaned up."""
    try:
        app()
    except SystemExit as e:
        if e.code == 130:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        raise
