from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from app import db
from app.models import Task, User

bp = Blueprint("tasks", __name__)


@bp.route("/users", methods=["POST"])
def create_user():
    user = User(username=request.get_json()["username"])
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return jsonify({"error": "username taken"}), 409
    return jsonify({"id": user.id, "username": user.username}), 201


@bp.route("/users/<username>/tasks", methods=["GET", "POST"])
def user_tasks(username):
    user = User.query.filter_by(username=username).first_or_404()
    if request.method == "POST":
        task = Task(title=request.get_json()["title"], owner=user)
        db.session.add(task)
        db.session.commit()
        return jsonify(task.to_dict()), 201
    per_page = current_app.config["TASKS_PER_PAGE"]
    tasks = user.tasks.filter_by(done=False).limit(per_page).all()
    return jsonify([task.to_dict() for task in tasks])


@bp.route("/tasks/<int:task_id>/done", methods=["POST"])
def finish_task(task_id):
    task = db.session.get(Task, task_id)
    if task is None:
        abort(404)
    task.done = True
    db.session.commit()
    return jsonify(task.to_dict())
