from django.db import models


class Note(models.Model):
    text = models.TextField()
    words = models.IntegerField(null=True)
    processed = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
