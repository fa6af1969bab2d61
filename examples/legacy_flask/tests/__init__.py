import unittest
from importlib.metadata import PackageNotFoundError, version

REQUIREMENTS = "pip install -r .ci/requirements-legacy.txt (Flask 2.2, Flask-SQLAlchemy 2.5, Flask-Migrate 3.1)"


def _installed(distribution):
    try:
        return version(distribution)
    except PackageNotFoundError:
        raise unittest.SkipTest(f"the blog example needs {distribution}: {REQUIREMENTS}") from None


if not _installed("flask-sqlalchemy").startswith("2."):
    raise unittest.SkipTest(
        "the blog example is written for Flask-SQLAlchemy 2.x (Model.query.paginate(page, per_page, ...),"
        f" flask._app_ctx_stack); this environment has {version('flask-sqlalchemy')}: {REQUIREMENTS}"
    )
_installed("flask-migrate")
