"""Photo upload: only real JPEG, PNG and WebP up to 5 MB; re-encoded without
metadata, resized, served from our own route; a refusal keeps the old photo."""

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import login
from training.extensions import db


def image_bytes(fmt="JPEG", size=(800, 600), color=(200, 30, 30), **save):
    buffer = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" else "RGB"
    Image.new(mode, size, color).save(buffer, fmt, **save)
    return buffer.getvalue()


@pytest.fixture
def trainer_client(client, factory):
    trainer = factory.trainer(name="Photo Trainer")
    login(client, trainer)
    return client, trainer


def upload(client, trainer, data, name="me.jpg"):
    return client.post(
        f"/trainers/{trainer.id}/photo", data={"photo": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepted_formats_are_reencoded_resized_and_served(app, trainer_client, fmt):
    client, trainer = trainer_client
    response = upload(client, trainer, image_bytes(fmt))
    assert response.status_code == 302
    db.session.refresh(trainer.trainer_profile)
    stem = trainer.trainer_profile.photo
    assert stem and len(stem) == 32
    served = client.get(f"/trainers/photos/{stem}-large.jpg")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(served.data)) as img:
        assert img.format == "JPEG" and img.size == (512, 512)
    with Image.open(io.BytesIO(client.get(f"/trainers/photos/{stem}-thumb.jpg").data)) as img:
        assert img.size == (160, 160)
    assert f"/trainers/photos/{stem}-large.jpg" in client.get(f"/trainers/{trainer.id}").get_data(as_text=True)


def test_metadata_is_stripped(app, trainer_client):
    client, trainer = trainer_client
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {2: (31.0, 14.0, 0.0)}  # GPSInfo
    upload(client, trainer, image_bytes("JPEG", exif=exif.tobytes()))
    db.session.refresh(trainer.trainer_profile)
    data = client.get(f"/trainers/photos/{trainer.trainer_profile.photo}-large.jpg").data
    assert b"SecretCam" not in data and b"Exif" not in data
    with Image.open(io.BytesIO(data)) as img:
        assert not img.getexif()


@pytest.mark.parametrize(
    "payload,name",
    [
        (image_bytes("GIF"), "anim.gif"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "x.svg"),
        (b"%PDF-1.4 not an image", "x.jpg"),
        (image_bytes("JPEG")[:200], "truncated.jpg"),
        (b"", "empty.jpg"),
        (image_bytes("BMP"), "bitmap.jpg"),
        (image_bytes("JPEG", size=(20, 20)), "tiny.jpg"),
    ],
)
def test_refused_uploads_keep_the_old_photo(app, trainer_client, payload, name):
    client, trainer = trainer_client
    upload(client, trainer, image_bytes("PNG"))
    db.session.refresh(trainer.trainer_profile)
    old = trainer.trainer_profile.photo
    response = upload(client, trainer, payload, name)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "JPEG, PNG or WebP" in html or "too small" in html or "empty" in html
    db.session.refresh(trainer.trainer_profile)
    assert trainer.trainer_profile.photo == old
    assert client.get(f"/trainers/photos/{old}-large.jpg").status_code == 200
    files = sorted(p.name for p in (Path(app.config["UPLOAD_DIR"]) / "trainers").iterdir())
    assert files == sorted([f"{old}-large.jpg", f"{old}-thumb.jpg"])


def test_larger_than_5_mb_is_refused(app, trainer_client):
    client, trainer = trainer_client
    data = image_bytes("JPEG") + b"\0" * (5 * 1024 * 1024)
    response = upload(client, trainer, data)
    assert response.status_code == 422 and "5 MB" in response.get_data(as_text=True)


def test_decompression_bomb_is_refused(app, trainer_client):
    client, trainer = trainer_client
    # 12000 x 12000 pixels of one colour: a small PNG file, 144 megapixels once decoded
    buffer = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buffer, "PNG", optimize=True)
    assert len(buffer.getvalue()) < 5 * 1024 * 1024
    response = upload(client, trainer, buffer.getvalue(), "bomb.png")
    assert response.status_code == 422 and "too large" in response.get_data(as_text=True)


def test_replacing_removes_old_files_and_remove_works(app, trainer_client):
    client, trainer = trainer_client
    upload(client, trainer, image_bytes("JPEG"))
    db.session.refresh(trainer.trainer_profile)
    first = trainer.trainer_profile.photo
    upload(client, trainer, image_bytes("WEBP"))
    db.session.refresh(trainer.trainer_profile)
    assert trainer.trainer_profile.photo != first
    assert client.get(f"/trainers/photos/{first}-large.jpg").status_code == 404
    client.post(f"/trainers/{trainer.id}/photo/remove")
    db.session.refresh(trainer.trainer_profile)
    assert trainer.trainer_profile.photo is None


def test_others_cannot_upload(app, client, factory):
    target = factory.trainer()
    login(client, factory.trainer())
    assert upload(client, target, image_bytes()).status_code == 403
    login(client, factory.trainee())
    assert upload(client, target, image_bytes()).status_code == 403


@pytest.mark.parametrize("name", ["../../etc/passwd", "x.jpg", "0" * 32 + "-huge.jpg", "%2e%2e%2fsecret_key"])
def test_photo_route_refuses_other_names(client, name):
    assert client.get(f"/trainers/photos/{name}").status_code == 404
