from django.urls import path

from events import views

urlpatterns = [
    path("week/", views.week_pick, name="week_pick"),
    path("week/<str:day>/", views.week, name="week"),
    path("events/<int:event_id>/", views.event_detail, name="event_detail"),
    path("calendars/<int:connection_id>/visibility/", views.calendar_visibility, name="calendar_visibility"),
]
