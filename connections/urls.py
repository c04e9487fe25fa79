from django.urls import path

from connections import views

urlpatterns = [
    path("", views.connections_page, name="connections"),
    path("<str:provider>/start/", views.connect_start, name="connections_start"),
    path("<str:provider>/callback/", views.connect_callback, name="connections_callback"),
    path("<str:provider>/connect/", views.caldav_connect, name="connections_caldav"),
    path("accounts/<int:account_id>/calendars/", views.choose_calendars, name="connections_choose"),
    path("accounts/<int:account_id>/disconnect/", views.account_disconnect_view, name="connections_account_disconnect"),
    path("calendars/<int:connection_id>/sync/", views.calendar_sync_view, name="connections_calendar_sync"),
    path(
        "calendars/<int:connection_id>/confirm-deletion/",
        views.calendar_confirm_deletion_view,
        name="connections_calendar_confirm_deletion",
    ),
    path(
        "calendars/<int:connection_id>/disconnect/",
        views.calendar_disconnect_view,
        name="connections_calendar_disconnect",
    ),
]
