"""Trainer pages: the public directory and profiles, profile editing and photos."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import content_forms
from ..content_i18n import localized
from ..errors import DomainError
from ..markdown import plain_text
from ..permissions import can
from ..web import page_arg, show_form_error
from . import photos, services
from .forms import PhotoForm, ProfileForm, RemovePhotoForm

bp = Blueprint("trainers", __name__)

PER_PAGE = 24
PROFILE_TEXTS = ("title", "bio")


@bp.get("/trainers")
def directory():
    q = " ".join((request.args.get("q") or "").replace("\x00", " ").split())[:100]
    page = services.list_trainers(q, page_arg(), PER_PAGE)
    return render_template("trainers/directory.html", page=page, q=q)


@bp.get("/trainers/<int:user_id>")
def profile(user_id):
    detail = services.trainer_detail(user_id, current_user)
    return render_template(
        "trainers/profile.html",
        d=detail,
        user=detail.user,
        profile=detail.profile,
        meta_description=(plain_text(localized(detail.profile, "bio"), 200) or detail.user.display_name),
        can_edit=can(current_user, "edit_trainer_profile", detail.user),
    )


@bp.route("/trainers/<int:user_id>/edit", methods=["GET", "POST"])
@login_required
def edit_profile(user_id):
    user = services.get_trainer(user_id, current_user)
    if not can(current_user, "edit_trainer_profile", user):
        abort(403)
    profile = services.profile_of(user)
    form = ProfileForm(
        data={
            "name": user.display_name,
            "organisation": profile.organisation,
            "expertise": profile.expertise,
            "public": profile.public,
        }
        if request.method == "GET"
        else None
    )
    if request.method == "GET":
        content_forms.fill(form, profile, PROFILE_TEXTS)
    if form.validate_on_submit():
        try:
            services.update_profile(
                current_user,
                user.id,
                {
                    "name": form.name.data,
                    "organisation": form.organisation.data,
                    "expertise": form.expertise.data,
                    "public": form.public.data,
                    **content_forms.data(form, PROFILE_TEXTS),
                },
            )
        except DomainError as exc:
            show_form_error(form, exc, {"display_name": "name", **content_forms.aliases(form, PROFILE_TEXTS)})
        else:
            flash(_("Profile saved."), "success")
            return redirect(url_for("trainers.edit_profile", user_id=user.id))
    return render_template(
        "trainers/edit.html",
        form=form,
        photo_form=PhotoForm(),
        remove_form=RemovePhotoForm(),
        user=user,
        profile=profile,
    ), 422 if form.errors else 200


@bp.post("/trainers/<int:user_id>/photo")
@login_required
def upload_photo(user_id):
    user = services.get_trainer(user_id, current_user)
    if not can(current_user, "edit_trainer_profile", user):
        abort(403)
    photo_form = PhotoForm()
    if photo_form.validate_on_submit():
        try:
            services.set_photo(current_user, user.id, photo_form.photo.data.stream)
        except DomainError as exc:
            photo_form.photo.errors.append(exc.message)
        else:
            flash(_("Photo updated."), "success")
            return redirect(url_for("trainers.edit_profile", user_id=user.id))
    profile = services.profile_of(user)
    form = ProfileForm(
        formdata=None,
        data={
            "name": user.display_name,
            "title": profile.title,
            "organisation": profile.organisation,
            "expertise": profile.expertise,
            "bio": profile.bio,
            "public": profile.public,
        },
    )
    return render_template(
        "trainers/edit.html",
        form=form,
        photo_form=photo_form,
        remove_form=RemovePhotoForm(),
        user=user,
        profile=profile,
    ), 422


@bp.post("/trainers/<int:user_id>/photo/remove")
@login_required
def remove_photo(user_id):
    form = RemovePhotoForm()
    if not form.validate_on_submit():
        abort(400)
    services.remove_photo(current_user, user_id)
    flash(_("Photo removed."), "success")
    return redirect(url_for("trainers.edit_profile", user_id=user_id))


@bp.get("/trainers/photos/<name>")
def photo(name):
    path = photos.path_for(name)
    if path is None:
        abort(404)
    # Names change with every upload, so the files can be cached for good.
    response = send_file(path, mimetype="image/jpeg", max_age=31536000, conditional=True)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
