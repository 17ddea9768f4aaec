from tests.conftest import login


def test_admin_pages_refuse_others(client, factory):
    assert client.get("/admin/").status_code == 302
    login(client, factory.trainee())
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/audit").status_code == 403


def test_admin_creates_and_edits_user(client, factory):
    admin = factory.admin()
    login(client, admin)
    assert client.get("/admin/").status_code == 200
    response = client.post("/admin/users/new", data={"name": "王小明", "email": "Wang@Example.com", "role": "trainer"})
    assert response.status_code == 302
    from training.accounts.services import find_user_by_email

    user = find_user_by_email("wang@example.com")
    assert user.display_name == "王小明" and user.trainer_profile is not None
    page = client.get("/admin/users?q=wang")
    assert "王小明".encode() in page.data
    # Bad input keeps what was typed and says what is wrong.
    bad = client.post("/admin/users/new", data={"name": "Anna Müller", "email": "not-an-email", "role": "trainee"})
    assert bad.status_code == 200 and "Anna Müller".encode() in bad.data and b"invalid" in bad.data.lower()
    response = client.post(f"/admin/users/{user.id}", data={"name": "王小明", "role": "trainee", "active": ""})
    assert response.status_code == 302
    assert not user.active
    assert b"user.update" in client.get("/admin/audit").data


def test_admin_cannot_demote_self(client, factory):
    admin = factory.admin()
    login(client, admin)
    client.post(f"/admin/users/{admin.id}", data={"name": admin.display_name, "role": "trainee", "active": "y"})
    assert admin.role == "admin"
