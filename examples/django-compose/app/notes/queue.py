"""The job queue between web and worker: a Redis list."""
import redis
from django.conf import settings

KEY = "notes:jobs"


def client():
    return redis.Redis.from_url(settings.REDIS_URL)


def enqueue(note_id):
    client().lpush(KEY, note_id)
