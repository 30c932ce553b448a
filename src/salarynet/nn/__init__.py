"""The network and its fit in pure JAX (model, train, losses) and pure array metrics: no pandas, no files."""
