# The application's buildpack: builds its artifact with the image's tools.
echo "building $(cat VERSION) on job image $(cat /etc/buildpack/job)"
make -s dist
test -s dist/app.tar.gz
chown -R 990:990 dist
