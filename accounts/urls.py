from django.urls import path, re_path

from accounts import views

urlpatterns = [
    path("settings/", views.settings_view, name="account_settings"),
    path("devices/", views.devices_view, name="account_devices"),
    path("devices/sign-out-others/", views.devices_sign_out_others, name="account_devices_sign_out_others"),
    re_path(r"^devices/(?P<key_hash>[0-9a-f]{64})/sign-out/$", views.device_sign_out, name="account_device_sign_out"),
    path("delete/", views.delete_account_view, name="account_delete"),
    path("export/", views.export_view, name="account_export"),
    path("export/calsync.json", views.export_download_view, {"extension": "json"}, name="account_export_json"),
    path("export/calsync.ics", views.export_download_view, {"extension": "ics"}, name="account_export_ics"),
]
