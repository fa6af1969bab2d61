from flask import g, jsonify, request, url_for

from .. import db
from ..models import Permission, Post
from . import api
from .authentication import login_required
from .errors import forbidden
from .pagination import paginated_json


@api.route("/posts/")
def get_posts():
    query = Post.query.order_by(Post.timestamp.desc())
    return jsonify(paginated_json(query, "posts", "BLOG_POSTS_PER_PAGE", "api.get_posts"))


@api.route("/posts/<int:id>")
def get_post(id):
    return jsonify(Post.query.get_or_404(id).to_json())


@api.route("/posts/", methods=["POST"])
@login_required(Permission.WRITE)
def new_post():
    post = Post.from_json(request.get_json(silent=True) or {})
    post.author = g.current_user
    db.session.add(post)
    db.session.commit()
    return jsonify(post.to_json()), 201, {"Location": url_for("api.get_post", id=post.id)}


@api.route("/posts/<int:id>", methods=["PUT"])
@login_required(Permission.WRITE)
def edit_post(id):
    post = Post.query.get_or_404(id)
    if g.current_user != post.author and not g.current_user.can(Permission.ADMIN):
        return forbidden("only the author may edit a post")
    post.body = (request.get_json(silent=True) or {}).get("body", post.body)
    db.session.add(post)
    db.session.commit()
    return jsonify(post.to_json())
