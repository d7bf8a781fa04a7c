"""Tools for developing the project (tests, benchmark, their set-up); not part of the distribution."""
