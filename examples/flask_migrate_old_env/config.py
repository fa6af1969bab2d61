import os


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY") or "change me"
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or "postgresql://todo:todo@localhost/todo"
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    TASKS_PER_PAGE = 10
