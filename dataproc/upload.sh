#!/usr/bin/env bash
# Upload what a Dataproc cluster needs to Cloud Storage: the initialization action, both
# requirement files and the dl_helpers wheel (to SPARK_DL_HOME), and the notebooks (to the
# bucket's notebooks/jupyter/ folder, which the Jupyter component shows).
#
#   BUCKET=my-bucket dataproc/upload.sh
#
#   BUCKET          bucket name (required)
#   SPARK_DL_HOME   default gs://$BUCKET/spark-dl
#   WHEEL           the wheel to upload (default: the newest dist/dl_helpers-*.whl; 'make wheel')
#   DRY_RUN=1       print the commands instead of running them
# Files are overwritten, so re-running after a change uploads the new versions.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

# shellcheck source=SCRIPTDIR/../ci/print_cmd.sh
source "$repo/ci/print_cmd.sh"

bucket=${BUCKET:-}
bucket=${bucket#gs://}
if [ -z "$bucket" ]; then
  echo "usage: BUCKET=my-bucket $0" >&2
  exit 2
fi
home=${SPARK_DL_HOME:-gs://$bucket/spark-dl}
home=${home%/}
wheel=${WHEEL:-$(find "$repo/dist" -maxdepth 1 -name 'dl_helpers-*.whl' 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$wheel" ] || [ ! -f "$wheel" ]; then
  echo "no dl_helpers wheel: run 'make wheel' first (or set WHEEL)" >&2
  exit 1
fi

run() {
  if [ "${DRY_RUN:-0}" = 1 ]; then
    print_cmd "$@"
  else
    "$@"
  fi
}

run gcloud storage cp "$here/init_dl_helpers.sh" "$repo/requirements-torch.txt" \
  "$repo/requirements-tf.txt" "$wheel" "$home/"
run gcloud storage rsync --recursive --exclude '(^|.*/)\.ipynb_checkpoints/.*' \
  "$repo/notebooks" "gs://$bucket/notebooks/jupyter/spark-dl"
echo "uploaded to $home (notebooks in gs://$bucket/notebooks/jupyter/spark-dl)" >&2
