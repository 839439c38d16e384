#!/usr/bin/env bash
# Create a Dataproc GPU cluster for the inference notebooks with `gcloud dataproc clusters create`:
# GPU workers, the Jupyter component, our initialization action, and the Spark settings from
# dl_helpers.session (Arrow, Python worker reuse, one executor per GPU worker with all its
# cores, task GPU amount = 1 / cores per executor).
#
#   FRAMEWORK=torch REGION=us-central1 BUCKET=my-bucket \
#   GPU_DRIVER_ACTION=gs://my-bucket/spark-dl/init-actions/2026-11/install_gpu_driver.sh \
#   dataproc/create_cluster.sh
#
#   FRAMEWORK            torch | tf (required): what the initialization action installs
#   REGION, BUCKET       (required) region, and the bucket (name only) for staging and notebooks
#   GPU_DRIVER_ACTION    (required) your own copy of Dataproc's gpu/install_gpu_driver.sh, which
#                        installs the NVIDIA driver and turns on YARN GPU scheduling (see
#                        README: copying pins it); "none" on an image that does both already
#   SPARK_DL_HOME        where upload.sh put the files (default gs://$BUCKET/spark-dl)
#   SHARED_GCS           bucket/prefix every node mounts (gcsfuse) at /mnt/gcs/dl_inference,
#                        the notebooks' default shared_dir (default $BUCKET/spark-dl/shared);
#                        "none": no mount (then pass shared_dir yourself)
#   CLUSTER_NAME         default ${USER}-spark-dl-$FRAMEWORK
#   IMAGE_VERSION        default 2.3-ubuntu22
#   NUM_WORKERS          default 2
#   WORKER_MACHINE_TYPE  default n1-standard-16; WORKER_CORES overrides the vCPUs read from it
#   WORKER_GPU           default nvidia-tesla-t4; GPUS_PER_WORKER default 1
#   MASTER_MACHINE_TYPE  default n1-standard-8; MASTER_GPUS default 1 (0: no GPU on the master)
#   EXECUTOR_MEMORY      default 32g (must fit one executor, and only one, on a worker)
#   MAX_IDLE             default 60m: the cluster deletes itself after this long idle
#   DRY_RUN=1            print the exact command; contact nothing
# An existing cluster of the same name is left alone, so re-running is safe.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

# shellcheck source=SCRIPTDIR/../ci/print_cmd.sh
source "$repo/ci/print_cmd.sh"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' >&2
  exit 2
}
framework=${FRAMEWORK:-}
region=${REGION:-}
bucket=${BUCKET:-}
bucket=${bucket#gs://}
driver_action=${GPU_DRIVER_ACTION:-}
if [ -z "$framework" ] || [ -z "$region" ] || [ -z "$bucket" ] || [ -z "$driver_action" ]; then
  usage
fi
case "$framework" in
  torch | tf) ;;
  *) usage ;;
esac

home=${SPARK_DL_HOME:-gs://$bucket/spark-dl}
home=${home%/}
shared=${SHARED_GCS:-$bucket/spark-dl/shared}
shared=${shared#gs://}
name=${CLUSTER_NAME:-${USER:-spark}-spark-dl-$framework}
workers=${NUM_WORKERS:-2}
worker_type=${WORKER_MACHINE_TYPE:-n1-standard-16}
worker_gpu=${WORKER_GPU:-nvidia-tesla-t4}
gpus=${GPUS_PER_WORKER:-1}
master_type=${MASTER_MACHINE_TYPE:-n1-standard-8}
master_gpus=${MASTER_GPUS:-1}

cores_arg=(--machine-type "$worker_type")
[ -z "${WORKER_CORES:-}" ] || cores_arg=(--cores "$WORKER_CORES")
properties=$(PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" python3 -m dl_helpers.session \
  dataproc-properties --framework "$framework" --num-workers "$workers" --gpus "$gpus" \
  --executor-memory "${EXECUTOR_MEMORY:-32g}" "${cores_arg[@]}")

actions=$home/init_dl_helpers.sh
[ "$driver_action" = none ] || actions=$driver_action,$actions

cmd=(gcloud dataproc clusters create "$name"
  --region "$region"
  --image-version "${IMAGE_VERSION:-2.3-ubuntu22}"
  --bucket "$bucket"
  --master-machine-type "$master_type"
  --num-workers "$workers"
  --worker-machine-type "$worker_type"
  --worker-accelerator "type=$worker_gpu,count=$gpus"
  --initialization-actions "$actions"
  --initialization-action-timeout 45m
  --metadata "spark-dl-home=$home,spark-dl-framework=$framework,spark-dl-shared=$shared,gpu-driver-provider=NVIDIA"
  --optional-components JUPYTER
  --enable-component-gateway
  --max-idle "${MAX_IDLE:-60m}"
  --properties "$properties")
[ "$master_gpus" = 0 ] || cmd+=(--master-accelerator "type=$worker_gpu,count=$master_gpus")

if [ "${DRY_RUN:-0}" = 1 ]; then
  print_cmd "${cmd[@]}"
  exit 0
fi

command -v gcloud >/dev/null || {
  echo "the gcloud CLI is not on PATH (see dataproc/README.md)" >&2
  exit 1
}
if gcloud dataproc clusters describe "$name" --region "$region" --format 'value(status.state)' 2>/dev/null; then
  echo "cluster '$name' already exists in $region; delete it first to change its settings"
  exit 0
fi
"${cmd[@]}"
