from functools import wraps

from flask import g, request

from ..models import User
from .errors import forbidden, unauthorized


def login_required(permission=None):
    """HTTP Basic authentication with the user's email and password; sets g.current_user."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            credentials = request.authorization
            if credentials is None or not credentials.username:
                return unauthorized("credentials required")
            user = User.query.filter_by(email=credentials.username.lower()).first()
            if user is None or not user.verify_password(credentials.password or ""):
                return unauthorized("invalid credentials")
            if permission is not None and not user.can(permission):
                return forbidden("insufficient permissions")
            g.current_user = user
            return view(*args, **kwargs)

        return wrapped

    return decorator
