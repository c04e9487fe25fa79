from __future__ import annotations

from accounts.models import User


def test_it_shows_and_saves_name_zone_and_week_start(client, owner):
    client.force_login(owner)
    page = client.get("/accounts/settings/")
    assert page.status_code == 200
    assert b'<option value="Europe/Berlin" selected>' in page.content
    response = client.post("/accounts/settings/", {"name": "Olive O.", "timezone": "Asia/Kolkata", "week_start": "6"})
    assert response.status_code == 302
    owner.refresh_from_db()
    assert (owner.name, owner.timezone, owner.week_start) == ("Olive O.", "Asia/Kolkata", 6)


def test_bad_input_re_renders_with_messages_and_saves_nothing(client, owner):
    client.force_login(owner)
    response = client.post("/accounts/settings/", {"name": "x" * 151, "timezone": "Mars/Olympus", "week_start": "9"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"name", "timezone", "week_start"}
    assert "Mars/Olympus is not one of the available choices" in response.content.decode()
    assert User.objects.get(pk=owner.pk).timezone == "Europe/Berlin"


def test_hostile_names_are_shown_as_text(client, owner):
    client.force_login(owner)
    client.post("/accounts/settings/", {"name": "<script>alert(1)</script>", "timezone": "UTC", "week_start": "0"})
    page = client.get("/accounts/settings/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_it_needs_a_signed_in_person(client, db):
    assert client.get("/accounts/settings/")["Location"].startswith("/accounts/login/")


def test_a_zone_the_browser_reported_is_kept_when_saving_other_settings(client, owner):
    User.objects.filter(pk=owner.pk).update(timezone="Etc/GMT-3")
    client.force_login(owner)
    page = client.get("/accounts/settings/").content.decode()
    assert '<option value="Etc/GMT-3" selected>' in page


def test_an_empty_post_is_answered_with_errors_not_ignored(client, owner):
    client.force_login(owner)
    response = client.post("/accounts/settings/", {})
    assert response.status_code == 200
    assert response.context["form"].errors
