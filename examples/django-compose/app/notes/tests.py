from unittest import mock

from django.test import Client, TestCase

from .models import Note


class NotesTest(TestCase):
    def test_create_stores_and_enqueues(self):
        with mock.patch("notes.queue.enqueue") as enqueue:
            r = Client().post("/notes", data="three little words", content_type="text/plain")
        self.assertEqual(r.status_code, 201)
        note = Note.objects.get()
        self.assertEqual(note.text, "three little words")
        enqueue.assert_called_once_with(note.id)

    def test_empty_note_is_refused(self):
        r = Client().post("/notes", data="  ", content_type="text/plain")
        self.assertEqual(r.status_code, 422)

    def test_index_lists_notes(self):
        Note.objects.create(text="hello")
        self.assertIn("hello", Client().get("/").content.decode())
