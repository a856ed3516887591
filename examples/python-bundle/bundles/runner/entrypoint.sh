#!/bin/sh
# web | cron | shell | script FILE [ARGS] | manage ARGS
set -e
settings=/config/settings.ini
[ -f "$settings" ] || settings=/etc/bundle/settings.ini
app=$(sed -n 's/^wsgi_app *= *//p' "$settings")
cmd="${1:-web}"
[ $# -gt 0 ] && shift
case "$cmd" in
  web)
    export BUNDLE_WSGI_APP="${app:-hello_bundle.wsgi:application}"
    exec supervisord -n -c /etc/supervisor/supervisord.conf ;;
  cron)
    [ -f /config/crontab ] && crontab /config/crontab
    exec cron -f ;;
  shell) exec /bin/bash "$@" ;;
  script)
    file="${1:?script needs a FILE from /scripts}"; shift
    exec python "/scripts/$file" "$@" ;;
  manage) exec python -m hello_bundle.manage "$@" ;;
  *) echo "unknown command $cmd: web, cron, shell, script FILE, manage ARGS" >&2; exit 64 ;;
esac
