import json

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import queue
from .models import Note


def index(request):
    notes = [
        {"id": n.id, "text": n.text, "words": n.words, "processed": n.processed}
        for n in Note.objects.order_by("id")
    ]
    return JsonResponse({"database": connection.vendor, "notes": notes})


@csrf_exempt
@require_POST
def create(request):
    text = request.body.decode().strip()
    if not text:
        return HttpResponse("empty note\n", status=422)
    note = Note.objects.create(text=text)
    queue.enqueue(note.id)
    return JsonResponse({"id": note.id}, status=201)


def health(request):
    with connection.cursor() as c:
        c.execute("SELECT 1")
    queue.client().ping()
    return HttpResponse("ok\n")
