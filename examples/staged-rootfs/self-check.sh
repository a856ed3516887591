# The self-check: the stages did what they should, or the build fails here.
test "$(stat -c '%u:%g %a' /srv/data/report.txt)" = "1234:1234 640"
getfacl -cn /srv/data/report.txt | grep -q '^user:2000:r--'
test -f /etc/staged/motd
test -L /etc/systemd/system/multi-user.target.wants/staged-hello.service
echo "self-check passed"
