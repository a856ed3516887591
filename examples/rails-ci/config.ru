# Serves NotesApp with WEBrick on port 8080.
require "webrick"
require_relative "app/notes"

app = NotesApp.new
server = WEBrick::HTTPServer.new(Port: 8080, BindAddress: "0.0.0.0", AccessLog: [])
server.mount_proc "/" do |req, res|
  status, body = app.call(req.request_method, req.path, req.body)
  res.status = status
  res["Content-Type"] = "text/plain"
  res.body = body
end
trap("TERM") { server.shutdown }
server.start
