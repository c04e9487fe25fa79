from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

# Staff sign in through allauth like everyone else: its rate limits and two-factor step apply.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
admin.site.site_header = "calsync administration"
admin.site.site_title = "calsync admin"

urlpatterns = [
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("connections/", include("connections.urls")),
    path("", include("events.urls")),
    path("admin/", admin.site.urls),
]
