"""Evidence files on manual grants: uploaded on the page or through the API (multipart; JSON unchanged),
kept write-once by SHA-256 in the document store, served only to those who may see the grant, listed on
the evidence pack; bad files are a clear 4xx that stores nothing."""

from __future__ import annotations

import hashlib
import io

import pytest
from sqlalchemy import func, select

from tests.conftest import api, login
from tests.qualifications.samples import pdf_bytes, png_bytes
from training.certificates import documents
from training.extensions import db
from training.qualifications.models import Grant


def _post_api(client, who, person, data: bytes | None, name="sheet.pdf", **fields):
    form = {"skill_id": "", "level": "3", "evidence": "Practical test", **{k: str(v) for k, v in fields.items()}}
    if data is not None:
        form["file"] = (io.BytesIO(data), name)
    caller = api(client, who)
    return caller.client.post(
        f"/api/v1/people/{person.id}/qualifications",
        data=form,
        content_type="multipart/form-data",
        headers=caller.headers,
    )


def _count():
    return db.session.scalar(select(func.count()).select_from(Grant))


def test_the_api_takes_a_file_with_multipart_and_json_as_before(plant, client, app):
    data = pdf_bytes()
    r = _post_api(client, plant.assessor, plant.trainee, data, name="../../etc/签字 sheet.PDF", skill_id=plant.skill.id)
    assert r.status_code == 201, r.json
    sha = hashlib.sha256(data).hexdigest()
    assert r.json["evidence_file"] == {
        "name": "签字 sheet.pdf",
        "mimetype": "application/pdf",
        "size": len(data),
        "sha256": sha,
        "url": f"/api/v1/qualifications/{r.json['id']}/evidence",
    }
    assert documents.store(app.config).get(sha) == data  # the certificates' write-once store, by content
    # JSON exactly as before, no file
    plain = api(client, plant.assessor).post(
        f"/api/v1/people/{plant.trainee.id}/qualifications",
        json={"skill_id": plant.skill.id, "level": 2, "evidence": "Observed"},
    )
    assert plain.status_code == 201 and plain.json["evidence_file"] is None
    listed = api(client, plant.trainee).get(f"/api/v1/people/{plant.trainee.id}/qualifications").json["items"]
    assert sorted(bool(i["evidence_file"]) for i in listed) == [False, True]


def test_a_file_alone_is_evidence_enough_nothing_at_all_is_not(plant, client):
    r = _post_api(
        client, plant.assessor, plant.trainee, png_bytes(), name="photo.png", skill_id=plant.skill.id, evidence=""
    )
    assert r.status_code == 201 and r.json["evidence_file"]["mimetype"] == "image/png"
    none = _post_api(client, plant.assessor, plant.trainee, None, skill_id=plant.skill.id, evidence="")
    assert none.status_code == 422 and "evidence" in none.json["error"]["fields"]


@pytest.mark.parametrize(
    "data,name,status",
    [
        (b"", "empty.pdf", 422),
        (b"%PDF-1.7\n garbage that is no PDF", "broken.pdf", 422),
        (b"MZ\x90\x00 an executable", "evidence.pdf", 422),
        (b"<html><script>alert(1)</script></html>", "page.png", 422),
        (png_bytes()[:60], "truncated.png", 422),
        (b"GIF89a" + b"\x00" * 40, "anim.gif", 422),
        (b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024), "huge.pdf", 413),
    ],
)
def test_bad_files_are_refused_and_store_nothing(plant, client, app, data, name, status):
    app.config["QUALIFICATION_EVIDENCE_MAX_BYTES"] = 1024 * 1024
    r = _post_api(client, plant.assessor, plant.trainee, data, name=name, skill_id=plant.skill.id)
    assert r.status_code == status, r.json
    assert "evidence_file" in r.json["error"]["fields"] and r.json["error"]["message"]
    assert _count() == 0
    folder = app.config["DOCUMENT_DIR"]
    import os

    assert not os.path.exists(folder) or not any(files for _d, _s, files in os.walk(folder))


def test_the_page_uploads_a_file_and_serves_it_only_to_those_who_see_the_grant(plant, factory, client):
    data = png_bytes()
    login(client, plant.assessor)
    r = client.post(
        f"/qualifications/people/{plant.trainee.id}/grants",
        data={
            "skill_id": str(plant.skill.id),
            "level": "3",
            "source": "assessment",
            "evidence": "Practical test",
            "evidence_file": (io.BytesIO(data), "station3.png"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = r.get_data(as_text=True)
    assert "Qualification granted." in page and "station3.png" in page
    g = db.session.scalar(select(Grant))
    url = f"/qualifications/grants/{g.id}/evidence"
    assert f'href="{url}"' in page

    def fetch(who):
        if who is None:
            return client.application.test_client().get(url)
        login(client, who)
        return client.get(url)

    for who in (plant.trainee, plant.trainer, plant.assessor, plant.admin):
        response = fetch(who)
        assert response.status_code == 200 and response.data == data
        assert response.mimetype == "image/png" and response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Disposition"].startswith("attachment;")
    for who in (factory.trainee(), factory.trainer()):
        assert fetch(who).status_code == 403
    assert fetch(None).status_code == 302
    # the API answers the same people the same way
    assert api(client, plant.trainee).get(f"/api/v1/qualifications/{g.id}/evidence").data == data
    assert api(client, factory.trainee()).get(f"/api/v1/qualifications/{g.id}/evidence").status_code == 403
    assert api(client).get(f"/api/v1/qualifications/{g.id}/evidence").status_code == 401
    assert api(client, plant.admin).get("/api/v1/qualifications/999999/evidence").status_code == 404


def test_a_bad_file_on_the_page_is_a_message_and_no_grant(plant, client):
    login(client, plant.assessor)
    r = client.post(
        f"/qualifications/people/{plant.trainee.id}/grants",
        data={
            "skill_id": str(plant.skill.id),
            "level": "3",
            "source": "assessment",
            "evidence": "x",
            "evidence_file": (io.BytesIO(b"not a picture"), "x.jpg"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert r.status_code == 200 and "must be a PDF or a JPEG, PNG or WebP image" in r.get_data(as_text=True)
    assert _count() == 0


def test_a_grant_without_a_file_has_nothing_to_serve(plant, client):
    api(client, plant.assessor).post(
        f"/api/v1/people/{plant.trainee.id}/qualifications",
        json={"skill_id": plant.skill.id, "level": 2, "evidence": "Observed"},
    )
    g = db.session.scalar(select(Grant))
    login(client, plant.admin)
    assert client.get(f"/qualifications/grants/{g.id}/evidence").status_code == 404


def test_the_evidence_pack_lists_the_file_with_its_hash(plant, client):
    import pypdfium2

    data = pdf_bytes()
    assert (
        _post_api(client, plant.assessor, plant.trainee, data, name="signoff.pdf", skill_id=plant.skill.id).status_code
        == 201
    )
    login(client, plant.admin)
    pack = client.get(f"/qualifications/people/{plant.trainee.id}/evidence.pdf")
    text = pypdfium2.PdfDocument(pack.data)[0].get_textpage().get_text_range().replace("\r", "").replace("\n", "")
    assert "signoff.pdf" in text and hashlib.sha256(data).hexdigest()[:16] in text


def test_the_audit_names_the_file(plant, client):
    from training.audit import AuditEntry

    data = png_bytes()
    _post_api(client, plant.assessor, plant.trainee, data, name="p.png", skill_id=plant.skill.id)
    detail = db.session.scalar(select(AuditEntry.detail).where(AuditEntry.action == "qualification.grant"))
    assert "p.png" in detail and hashlib.sha256(data).hexdigest() in detail
