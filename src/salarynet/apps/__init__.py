"""The faces over the fitted model: the command line, the HTTP server, sweeps, comparisons and reports."""
