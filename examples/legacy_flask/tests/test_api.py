from base64 import b64encode
from datetime import datetime, timedelta

from examples.legacy_flask.app import db
from examples.legacy_flask.app.models import Comment, Post, Role, User

from .base import BlogTestCase


class APITestCase(BlogTestCase):
    def setUp(self):
        super().setUp()
        Role.insert_roles()

    def get_api_headers(self, username=None, password=None):
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if username is not None:
            credentials = b64encode(f"{username}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {credentials}"
        return headers

    def add_user(self, email="john@example.com", username="john", password="cat"):
        u = User(email=email, username=username, password=password)
        db.session.add(u)
        db.session.commit()
        return u

    def add_posts(self, author, count, start=datetime(2024, 1, 1)):
        """Posts 'post 0' .. 'post <count-1>', a minute apart, the last the newest."""
        posts = [Post(body=f"post {n}", author=author, timestamp=start + timedelta(minutes=n)) for n in range(count)]
        db.session.add_all(posts)
        db.session.commit()
        return posts

    def test_404(self):
        response = self.client.get("/wrong/url", headers=self.get_api_headers())
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.get_json()["error"], "not found")

    def test_missing_post_is_404(self):
        response = self.client.get("/api/v1/posts/12345", headers=self.get_api_headers())
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.get_json(), {"error": "not found"})

    def test_no_auth(self):
        response = self.client.post("/api/v1/posts/", headers=self.get_api_headers(), json={"body": "hi"})
        self.assertEqual(response.status_code, 401)

    def test_bad_auth(self):
        self.add_user()
        response = self.client.post(
            "/api/v1/posts/", headers=self.get_api_headers("john@example.com", "dog"), json={"body": "hi"}
        )
        self.assertEqual(response.status_code, 401)

    def test_register_then_fetch_in_a_new_request(self):
        response = self.client.post(
            "/api/v1/users/",
            headers=self.get_api_headers(),
            json={"email": "Susan@Example.com", "username": "susan", "password": "dog"},
        )
        self.assertEqual(response.status_code, 201)
        url = response.headers.get("Location")
        self.assertIsNotNone(url)

        response = self.client.get(url, headers=self.get_api_headers())
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json()["username"], "susan")
        self.assertEqual(User.query.filter_by(email="susan@example.com").count(), 1)

    def test_register_twice_is_409(self):
        self.add_user()
        response = self.client.post(
            "/api/v1/users/",
            headers=self.get_api_headers(),
            json={"email": "john@example.com", "username": "johnny", "password": "dog"},
        )
        self.assertEqual(response.status_code, 409)
        response = self.client.post(
            "/api/v1/users/",
            headers=self.get_api_headers(),
            json={"email": "susan@example.com", "username": "susan", "password": "dog"},
        )
        self.assertEqual(response.status_code, 201)
        self.assertEqual(User.query.count(), 2)

    def test_register_needs_every_field(self):
        response = self.client.post("/api/v1/users/", headers=self.get_api_headers(), json={"email": "a@example.com"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.get_json()["message"], "missing: username, password")

    def test_new_post_is_committed_and_served(self):
        u = self.add_user()
        response = self.client.post(
            "/api/v1/posts/", headers=self.get_api_headers("john@example.com", "cat"), json={"body": "first post"}
        )
        self.assertEqual(response.status_code, 201)
        url = response.headers.get("Location")

        response = self.client.get(url, headers=self.get_api_headers())
        self.assertEqual(response.status_code, 200)
        json_response = response.get_json()
        self.assertEqual(json_response["body"], "first post")
        self.assertEqual(json_response["author_url"], f"/api/v1/users/{u.id}")
        self.assertEqual(Post.query.count(), 1)

    def test_post_without_body_is_400(self):
        self.add_user()
        response = self.client.post(
            "/api/v1/posts/", headers=self.get_api_headers("john@example.com", "cat"), json={"body": ""}
        )
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.get_json()["message"], "post does not have a body")

    def test_only_the_author_edits_a_post(self):
        john = self.add_user()
        self.add_user("susan@example.com", "susan", "dog")
        post_id = self.add_posts(john, 1)[0].id

        response = self.client.put(
            f"/api/v1/posts/{post_id}", headers=self.get_api_headers("susan@example.com", "dog"), json={"body": "x"}
        )
        self.assertEqual(response.status_code, 403)
        response = self.client.put(
            f"/api/v1/posts/{post_id}", headers=self.get_api_headers("john@example.com", "cat"), json={"body": "edited"}
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(Post.query.get(post_id).body, "edited")

    def test_posts_are_paginated_newest_first(self):
        self.add_posts(self.add_user(), 12)

        response = self.client.get("/api/v1/posts/", headers=self.get_api_headers())
        page1 = response.get_json()
        self.assertEqual(page1["count"], 12)
        self.assertEqual([p["body"] for p in page1["posts"]], [f"post {n}" for n in (11, 10, 9, 8, 7)])
        self.assertIsNone(page1["prev"])
        self.assertEqual(page1["next"], "/api/v1/posts/?page=2")

        page3 = self.client.get(page1["next"].replace("page=2", "page=3"), headers=self.get_api_headers()).get_json()
        self.assertEqual([p["body"] for p in page3["posts"]], ["post 1", "post 0"])
        self.assertIsNone(page3["next"])

    def test_page_past_the_end_is_empty(self):
        self.add_posts(self.add_user(), 3)
        response = self.client.get("/api/v1/posts/?page=9", headers=self.get_api_headers())
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json()["posts"], [])

    def test_user_posts_only_their_own(self):
        john = self.add_user()
        susan = self.add_user("susan@example.com", "susan", "dog")
        self.add_posts(john, 2)
        self.add_posts(susan, 7)

        response = self.client.get(f"/api/v1/users/{susan.id}/posts/", headers=self.get_api_headers())
        json_response = response.get_json()
        self.assertEqual(json_response["count"], 7)
        self.assertEqual(len(json_response["posts"]), 5)
        self.assertEqual(json_response["next"], f"/api/v1/users/{susan.id}/posts/?page=2")

        response = self.client.get(f"/api/v1/users/{john.id}", headers=self.get_api_headers())
        self.assertEqual(response.get_json()["post_count"], 2)

    def test_comments(self):
        john = self.add_user()
        self.add_user("susan@example.com", "susan", "dog")
        post_id = self.add_posts(john, 1)[0].id

        for n in range(4):
            response = self.client.post(
                f"/api/v1/posts/{post_id}/comments/",
                headers=self.get_api_headers("susan@example.com", "dog"),
                json={"body": f"comment {n}"},
            )
            self.assertEqual(response.status_code, 201)
        hidden = Comment.query.filter_by(body="comment 1").one()
        hidden.disabled = True
        db.session.commit()

        response = self.client.get(f"/api/v1/posts/{post_id}/comments/", headers=self.get_api_headers())
        json_response = response.get_json()
        self.assertEqual(json_response["count"], 3)
        self.assertEqual([c["body"] for c in json_response["comments"]], ["comment 0", "comment 2", "comment 3"])
        self.assertIsNone(json_response["next"])
        self.assertEqual(
            self.client.get(f"/api/v1/posts/{post_id}", headers=self.get_api_headers()).get_json()["comment_count"], 4
        )
