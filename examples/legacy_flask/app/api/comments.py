from flask import g, jsonify, request, url_for

from .. import db
from ..models import Comment, Permission, Post
from . import api
from .authentication import login_required
from .pagination import paginated_json


@api.route("/comments/<int:id>")
def get_comment(id):
    return jsonify(Comment.query.get_or_404(id).to_json())


@api.route("/posts/<int:id>/comments/")
def get_post_comments(id):
    post = Post.query.get_or_404(id)
    query = post.comments.filter_by(disabled=False).order_by(Comment.timestamp.asc())
    return jsonify(paginated_json(query, "comments", "BLOG_COMMENTS_PER_PAGE", "api.get_post_comments", id=id))


@api.route("/posts/<int:id>/comments/", methods=["POST"])
@login_required(Permission.COMMENT)
def new_post_comment(id):
    post = Post.query.get_or_404(id)
    comment = Comment.from_json(request.get_json(silent=True) or {})
    comment.author = g.current_user
    comment.post = post
    db.session.add(comment)
    db.session.commit()
    return jsonify(comment.to_json()), 201, {"Location": url_for("api.get_comment", id=comment.id)}
