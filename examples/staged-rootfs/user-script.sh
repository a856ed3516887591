# Stage 3: what the image's owner wants done (runs as root inside the stage container).
systemctl enable staged-hello.service
echo "built $(date -u +%F)" > /etc/staged/build-info
