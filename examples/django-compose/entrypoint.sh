#!/bin/sh
# Sub-commands: web (migrate, then gunicorn), worker, manage ARGS..., test, shell.
set -e
cmd="${1:-web}"
[ $# -gt 0 ] && shift
case "$cmd" in
  web)
    python manage.py migrate --noinput
    exec gunicorn notesite.wsgi --bind 0.0.0.0:8000 --workers "${WEB_WORKERS:-2}" --access-logfile -
    ;;
  worker) exec python manage.py worker ;;
  manage) exec python manage.py "$@" ;;
  test) exec python manage.py test --noinput notes ;;
  shell) exec /bin/bash ;;
  *) echo "unknown command $cmd: use web, worker, manage, test or shell" >&2; exit 64 ;;
esac
