"""The command line's subcommands (``python -m pglite_testcase``): ``diagnostics`` (doctor, cache) and ``serve``."""
