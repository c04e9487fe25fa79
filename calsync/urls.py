from django.contrib import admin
from django.urls import include, path

from calsync import views

admin.site.site_header = "calsync administration"
admin.site.site_title = "calsync admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
