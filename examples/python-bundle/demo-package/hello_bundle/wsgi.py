from markupsafe import escape

from . import __version__


def application(environ, start_response):
    who = escape(environ.get("HTTP_X_FORWARDED_FOR", "somebody"))
    body = f"hello-bundle {__version__} says hello to {who} (via nginx)\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
