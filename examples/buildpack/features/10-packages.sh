# Packages every deploy needs (Debian's, over plain http).
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends make >/dev/null
