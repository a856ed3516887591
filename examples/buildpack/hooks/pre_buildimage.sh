#!/bin/sh
set -e
echo "pre_buildimage: job $JOB_ID"
mkdir -p /etc/buildpack
date -u +%FT%TZ > /etc/buildpack/started
