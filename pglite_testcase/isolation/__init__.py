"""How one test is kept from the next, on the database ``database`` provided.

``strategies`` chooses one of the two isolation strategies, ``transaction`` (rolled back) and
``truncate`` (tables emptied), each with a face for sync and one for async classes (``owner``: what
a strategy needs of the class fixture);
``join_test_transaction`` makes every connection of a test join the test's one transaction, with
``savepoints`` for nested transactions and ``commit_guard`` refusing a COMMIT of it; ``truncation``
empties what a committing test wrote; ``sequences`` puts sequences back; ``routing`` points the
application's own engines and sessions at the test; ``reach`` refuses other databases.
"""
