"""Small, Django-light helpers shared by the apps: encryption, encrypted fields, HTTP request details."""
