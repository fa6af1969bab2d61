from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from examples.legacy_flask.app import db
from examples.legacy_flask.app.exceptions import ValidationError
from examples.legacy_flask.app.models import Permission, Post, Role, User

from .base import BlogTestCase


class UserModelTestCase(BlogTestCase):
    def setUp(self):
        super().setUp()
        Role.insert_roles()

    def test_password_setter(self):
        u = User(email="john@example.com", username="john", password="cat")
        self.assertTrue(u.password_hash is not None)

    def test_no_password_getter(self):
        u = User(email="john@example.com", username="john", password="cat")
        with self.assertRaises(AttributeError):
            u.password

    def test_password_verification(self):
        u = User(email="john@example.com", username="john", password="cat")
        self.assertTrue(u.verify_password("cat"))
        self.assertFalse(u.verify_password("dog"))

    def test_password_salts_are_random(self):
        u = User(email="john@example.com", username="john", password="cat")
        u2 = User(email="susan@example.com", username="susan", password="cat")
        self.assertTrue(u.password_hash != u2.password_hash)

    def test_user_role(self):
        u = User(email="john@example.com", username="john", password="cat")
        self.assertEqual(u.role.name, "User")
        self.assertTrue(u.can(Permission.FOLLOW))
        self.assertTrue(u.can(Permission.COMMENT))
        self.assertTrue(u.can(Permission.WRITE))
        self.assertFalse(u.can(Permission.MODERATE))
        self.assertFalse(u.can(Permission.ADMIN))

    def test_administrator_role(self):
        u = User(email=self.app.config["BLOG_ADMIN"], username="admin", password="cat")
        self.assertTrue(u.is_administrator())
        self.assertTrue(u.can(Permission.MODERATE))

    def test_insert_roles_twice_keeps_three_roles(self):
        Role.insert_roles()
        self.assertEqual(sorted(r.name for r in Role.query.all()), ["Administrator", "Moderator", "User"])
        self.assertEqual(Role.query.filter_by(default=True).one().name, "User")

    def test_timestamps_are_set_on_commit(self):
        u = User(email="john@example.com", username="john", password="cat")
        db.session.add(u)
        db.session.commit()
        self.assertLess(datetime.utcnow() - u.member_since, timedelta(seconds=60))
        self.assertLess(datetime.utcnow() - u.last_seen, timedelta(seconds=60))

    def test_duplicate_email_is_rejected(self):
        db.session.add(User(email="john@example.com", username="john", password="cat"))
        db.session.commit()
        db.session.add(User(email="john@example.com", username="johnny", password="dog"))
        with self.assertRaises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        self.assertEqual(User.query.count(), 1)

    def test_user_posts_are_counted(self):
        u = User(email="john@example.com", username="john", password="cat")
        db.session.add(u)
        db.session.add_all([Post(body="one", author=u), Post(body="two", author=u)])
        db.session.commit()
        self.assertEqual(u.posts.count(), 2)
        with self.app.test_request_context():
            self.assertEqual(User.query.get(u.id).to_json()["post_count"], 2)

    def test_post_from_json_needs_a_body(self):
        with self.assertRaises(ValidationError):
            Post.from_json({"body": ""})
        self.assertEqual(Post.from_json({"body": "hello"}).body, "hello")
