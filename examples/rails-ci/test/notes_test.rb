require "minitest/autorun"
require "net/http"
require_relative "../app/notes"

class NotesTest < Minitest::Test
  def test_adds_and_lists_notes
    app = NotesApp.new
    assert_equal 201, app.call("POST", "/notes", "hello").first
    assert_includes app.call("GET", "/", nil).last, "hello"
  end

  def test_refuses_empty_notes
    assert_equal 422, NotesApp.new.call("POST", "/notes", "  ").first
  end

  # Against the server running in this container.
  def test_running_server_answers
    res = Net::HTTP.get_response(URI("http://127.0.0.1:8080/health"))
    assert_equal "200", res.code
  end
end
