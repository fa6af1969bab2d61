"""pglite_testcase's benchmark: ``python -m bench`` (see README, "Performance")."""
