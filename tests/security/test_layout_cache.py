"""The signed-in navigation is kept per process (templates/base.html: rendering.fragment keyed by the
role, the permissions it shows, the person's id and name): each person sees exactly what an uncached
rendering shows them, nothing of anyone else's, their own session's CSRF token in the logout form, and
a change of name or role on the next page."""

from __future__ import annotations

import re

from sqlalchemy import update

from tests.conftest import login
from tests.toolkit import another_server, fragments_uncached
from training.accounts.models import User
from training.extensions import db

TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def _nav(html: str) -> str:
    """The navigation, without the session's CSRF token (signed with the time: it may change each second)."""
    return TOKEN.sub("", html.split("<nav", 1)[1].split("</nav>", 1)[0])


def test_each_person_sees_their_own_navigation_as_rendered_afresh(app, factory):
    company = factory.company()
    people = {
        "trainee": factory.trainee(name="Ada Trainee"),
        "trainer": factory.trainer(name="Bo Trainer 王博"),
        "admin": factory.admin(name="Cy Admin"),
        "coordinator": factory.coordinator(company, name="Di Coordinator"),
        "assessor": factory.user("assessor", name="Ed Assessor"),
    }
    clients = {role: login(app.test_client(), person) for role, person in people.items()}
    kept = {}
    for _ in range(2):  # rendered, then served from the kept fragments
        kept = {role: client.get("/my/certificates").get_data(as_text=True) for role, client in clients.items()}
    with fragments_uncached(app):
        fresh = {role: client.get("/my/certificates").get_data(as_text=True) for role, client in clients.items()}
    for role, person in people.items():
        assert _nav(kept[role]) == _nav(fresh[role]), role
        others = [p.display_name for r, p in people.items() if r != role]
        assert person.display_name in _nav(kept[role]) and not any(name in kept[role] for name in others), role
    assert 'href="/admin/"' in kept["admin"] and all('href="/admin/"' not in kept[r] for r in people if r != "admin")
    trainer_id = people["trainer"].id
    assert f"/trainers/{trainer_id}/" in _nav(kept["trainer"])
    assert all(f"/trainers/{trainer_id}/" not in _nav(kept[r]) for r in people if r != "trainer")
    assert "Reports" in _nav(kept["coordinator"]) and "Reports" not in _nav(kept["trainee"])
    assert "Skills matrix" in _nav(kept["assessor"]) and "Skills matrix" not in _nav(kept["trainer"])


def test_a_new_name_or_role_shows_on_the_next_page(app, factory):
    person = factory.trainee(name="Fay Before")
    client = login(app.test_client(), person)
    assert "Fay Before" in _nav(client.get("/").get_data(as_text=True))
    db.session.execute(update(User).where(User.id == person.id).values(display_name="Fay After", role="admin"))
    db.session.commit()
    nav = _nav(client.get("/").get_data(as_text=True))
    assert "Fay After" in nav and "Fay Before" not in nav and 'href="/admin/"' in nav


def test_the_kept_logout_form_carries_each_sessions_own_token(app, factory):
    ada, bo = factory.trainee(name="Ada Tokens"), factory.trainee(name="Bo Tokens")
    for person in (ada, bo):
        login(app.test_client(), person)  # starts a login session on the server
    ids = [ada.get_id(), bo.get_id()]
    db.session.remove()
    with another_server(app) as server:  # an app context per request, as under gunicorn
        server.config["WTF_CSRF_ENABLED"] = True
        clients = [server.test_client(), server.test_client()]
        for client, session_id in zip(clients, ids, strict=True):
            with client.session_transaction() as session:
                session["_user_id"], session["_fresh"] = session_id, True
        tokens = []
        for client in clients:
            client.get("/")
            html = client.get("/").get_data(as_text=True)
            found = TOKEN.findall(html.split("<nav", 1)[1].split("</nav>", 1)[0])
            assert len(found) == 1 and "csrf-slot" not in html
            tokens.append(found[0])
        assert tokens[0] != tokens[1]
        assert clients[1].post("/logout", data={"csrf_token": tokens[0]}).status_code == 400  # not Bo's token
        assert clients[0].post("/logout", data={"csrf_token": tokens[0]}).status_code in (302, 303)
        html = clients[0].get("/").get_data(as_text=True)
        assert "Ada Tokens" not in html and "Log out" not in html
        assert "Bo Tokens" in clients[1].get("/").get_data(as_text=True)
