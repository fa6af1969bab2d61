from datetime import datetime

from sqlalchemy import false, func

from app import db


class User(db.Model):
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(64), nullable=False, unique=True)
    tasks = db.relationship("Task", backref="owner", lazy="dynamic", order_by="Task.id")


class Task(db.Model):
    __tablename__ = "tasks"
    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(140), nullable=False)
    done = db.Column(db.Boolean, nullable=False, server_default=false())
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)

    def to_dict(self):
        return {"id": self.id, "title": self.title, "done": self.done, "owner": self.owner.username}

    @staticmethod
    def created_since(moment: datetime):
        return Task.query.filter(Task.created_at >= moment)
