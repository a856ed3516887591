# A tiny notes service: GET / lists notes, POST /notes adds one, GET /health answers ok.
require "json"

class NotesApp
  def initialize
    @notes = []
  end

  attr_reader :notes

  def call(method, path, body)
    case [method, path]
    when ["GET", "/health"] then [200, "ok\n"]
    when ["GET", "/"] then [200, JSON.generate(notes: @notes) + "\n"]
    when ["POST", "/notes"]
      text = body.to_s.strip
      return [422, "empty note\n"] if text.empty?
      @notes << text
      [201, JSON.generate(id: @notes.size) + "\n"]
    else [404, "not found\n"]
    end
  end
end
