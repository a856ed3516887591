"""The background worker: takes note ids from the queue and counts their words."""
import signal
import sys

from django.core.management.base import BaseCommand

from notes import queue
from notes.models import Note


class Command(BaseCommand):
    help = "Process queued notes"

    def handle(self, *args, **options):
        # As PID 1 of its container, a signal without a handler is ignored: stop on TERM.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        r = queue.client()
        self.stdout.write("worker: waiting for jobs", ending="\n")
        self.stdout.flush()
        while True:
            item = r.brpop(queue.KEY, timeout=5)
            if item is None:
                continue
            note = Note.objects.filter(id=int(item[1])).first()
            if note is None:
                continue
            note.words = len(note.text.split())
            note.processed = True
            note.save()
            self.stdout.write(f"worker: note {note.id} has {note.words} words", ending="\n")
            self.stdout.flush()
