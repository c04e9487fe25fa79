from django.urls import path

from events import edit_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("week/", views.week_pick, name="week_pick"),
    path("week/changed/", views.week_changed, name="week_changed"),
    path("week/<str:day>/", views.week, name="week"),
    path("events/new/", edit_views.event_new, name="event_new"),
    path("events/<int:event_id>/", views.event_detail, name="event_detail"),
    path("events/<int:event_id>/edit/", edit_views.event_edit, name="event_edit"),
    path("events/<int:event_id>/move/", edit_views.event_move, name="event_move"),
    path("events/<int:event_id>/delete/", edit_views.event_delete_view, name="event_delete"),
    path("events/<int:event_id>/respond/", edit_views.event_respond_view, name="event_respond"),
    path("changes/<int:change_id>/<str:action>/", edit_views.change_action, name="change_action"),
    path("calendars/<int:connection_id>/visibility/", views.calendar_visibility, name="calendar_visibility"),
]
