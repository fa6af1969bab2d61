from flask import jsonify, request, url_for
from sqlalchemy.exc import IntegrityError

from .. import db
from ..models import Post, User
from . import api
from .errors import bad_request, conflict
from .pagination import paginated_json


@api.route("/users/", methods=["POST"])
def new_user():
    data = request.get_json(silent=True) or {}
    missing = [field for field in ("email", "username", "password") if not data.get(field)]
    if missing:
        return bad_request(f"missing: {', '.join(missing)}")
    user = User(email=data["email"].lower(), username=data["username"], password=data["password"])
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return conflict("email or username already registered")
    response = jsonify(user.to_json())
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_user", id=user.id)
    return response


@api.route("/users/<int:id>")
def get_user(id):
    return jsonify(User.query.get_or_404(id).to_json())


@api.route("/users/<int:id>/posts/")
def get_user_posts(id):
    user = User.query.get_or_404(id)
    query = user.posts.order_by(Post.timestamp.desc())
    return jsonify(paginated_json(query, "posts", "BLOG_POSTS_PER_PAGE", "api.get_user_posts", id=id))
