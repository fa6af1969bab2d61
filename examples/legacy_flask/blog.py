"""The application object for the command line and the WSGI server.

FLASK_APP=examples/legacy_flask/blog.py flask db upgrade
"""

import os

from examples.legacy_flask.app import create_app, db
from examples.legacy_flask.app.models import Comment, Post, Role, User

app = create_app(os.getenv("FLASK_CONFIG") or "default")


@app.shell_context_processor
def make_shell_context():
    return dict(db=db, User=User, Role=Role, Post=Post, Comment=Comment)
