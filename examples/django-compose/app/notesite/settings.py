"""Settings from the environment: DATABASE_URL (postgres://... or sqlite:///path),
REDIS_URL, SECRET_KEY, ALLOWED_HOSTS."""
import os
from urllib.parse import urlparse

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = os.environ.get("DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "*").split(",")
INSTALLED_APPS = ["django.contrib.contenttypes", "notes"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "notesite.urls"
WSGI_APPLICATION = "notesite.wsgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def database(url):
    u = urlparse(url)
    if u.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": u.path}
    if u.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": u.path.lstrip("/"),
            "USER": u.username,
            "PASSWORD": u.password,
            "HOST": u.hostname,
            "PORT": u.port or 5432,
        }
    raise ValueError(f"DATABASE_URL: unknown scheme {u.scheme}")


DATABASES = {"default": database(os.environ.get("DATABASE_URL", "sqlite:////data/db.sqlite3"))}
REDIS_URL = os.environ.get("REDIS_URL", "redis://redis:6379/0")
