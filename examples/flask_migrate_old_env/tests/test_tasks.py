from sqlalchemy import inspect

from app import db
from app.models import Task, User

from .base import AppTestCase


class MigrationTests(AppTestCase):
    def test_the_migrations_built_the_schema(self):
        columns = {column["name"] for column in inspect(db.engine).get_columns("tasks")}
        self.assertEqual(columns, {"id", "title", "done", "user_id", "created_at"})

    def test_the_app_uses_the_test_database(self):
        self.assertEqual(db.session.scalar(db.text("SELECT version_num FROM alembic_version")), "8d2b4f6a0c13")


class TaskApiTests(AppTestCase):
    def setUp(self):
        super().setUp()
        ada = User(username="ada")
        db.session.add(ada)
        db.session.add_all([Task(title=f"task {n}", owner=ada) for n in range(12)])
        db.session.commit()
        self.ada = ada.id

    def test_create_user(self):
        response = self.client.post("/users", json={"username": "grace"})
        self.assertEqual(response.status_code, 201)
        self.assertEqual(User.query.count(), 2)

    def test_username_taken(self):
        response = self.client.post("/users", json={"username": "ada"})
        self.assertEqual(response.status_code, 409)
        self.assertEqual([user.username for user in User.query.all()], ["ada"])

    def test_add_task(self):
        response = self.client.post("/users/ada/tasks", json={"title": "write the recipe"})
        self.assertEqual(response.status_code, 201)
        self.assertFalse(response.get_json()["done"])
        self.assertEqual(Task.query.count(), 13)

    def test_open_tasks_are_paged(self):
        tasks = self.client.get("/users/ada/tasks").get_json()
        self.assertEqual(len(tasks), 10)
        self.assertEqual(tasks[0]["title"], "task 0")

    def test_finish_task(self):
        task = Task.query.filter_by(title="task 3").one()
        response = self.client.post(f"/tasks/{task.id}/done")
        self.assertTrue(response.get_json()["done"])
        self.assertEqual(len(self.client.get("/users/ada/tasks").get_json()), 10)
        self.assertEqual(Task.query.filter_by(done=True).count(), 1)

    def test_unknown_user_is_404(self):
        self.assertEqual(self.client.get("/users/nobody/tasks").status_code, 404)

    def test_each_test_starts_from_setup_alone(self):
        self.assertEqual(User.query.count(), 1)
        self.assertEqual(Task.query.filter_by(done=True).count(), 0)
