"""salarynet: the Keras salary tutorial, done correctly and fast, in JAX."""

__version__ = "0.1.0"
