import os

basedir = os.path.abspath(os.path.dirname(__file__))


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY") or "change me"
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    BLOG_ADMIN = os.environ.get("BLOG_ADMIN") or "admin@example.com"
    BLOG_POSTS_PER_PAGE = 20
    BLOG_COMMENTS_PER_PAGE = 30

    @staticmethod
    def init_app(app):
        pass


class DevelopmentConfig(Config):
    DEBUG = True
    SQLALCHEMY_DATABASE_URI = os.environ.get("DEV_DATABASE_URL") or "postgresql://blog:blog@localhost/blog_dev"


class TestingConfig(Config):
    TESTING = True
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or "postgresql://blog:blog@localhost/blog_test"
    BLOG_POSTS_PER_PAGE = 5
    BLOG_COMMENTS_PER_PAGE = 3


class ProductionConfig(Config):
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or "postgresql://blog:blog@localhost/blog"


config = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
    "default": DevelopmentConfig,
}
