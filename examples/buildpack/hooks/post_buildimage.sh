#!/bin/sh
set -e
echo "post_buildimage: job $JOB_ID"
echo "$JOB_ID" > /etc/buildpack/job
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
