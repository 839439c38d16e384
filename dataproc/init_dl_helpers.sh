#!/usr/bin/env bash
# Dataproc initialization action: installs the chosen framework's pinned requirements and the
# dl_helpers wheel into the cluster's Python, and writes the GPU discovery script Spark runs on
# every executor. Dataproc runs it as root on the master and on every worker.
#
# create_cluster.sh passes its settings as cluster metadata (spark-dl-home, spark-dl-framework).
# Every setting can also be given in the environment, which is how the tests run this script
# against a throwaway virtual environment:
#   PYTHON               Python to install into           (default /opt/conda/default/bin/python)
#   SPARK_DL_HOME        folder with requirements-*.txt and dl_helpers-*.whl: gs://... or local
#   FRAMEWORK            torch | tf: picks requirements-$FRAMEWORK.txt
#   REQUIREMENTS         a requirements file instead, or "none" to install only dl_helpers
#   DL_HELPERS_WHEEL     a wheel instead of the newest $SPARK_DL_HOME/dl_helpers-*.whl
#   GPU_DISCOVERY_SCRIPT where to write the discovery script
#                        (default /usr/local/share/spark-dl/get_gpus_resources.sh)
#   SHARED_GCS           bucket/prefix to mount with gcsfuse on every node (metadata
#                        spark-dl-shared; empty or "none": no mount): the shared storage where
#                        notebooks put the data and models their executors open
#   SHARED_MOUNT         where to mount it (default /mnt/gcs/dl_inference, dl_helpers.session._storage's
#                        default shared folder on Dataproc)
# pyspark lines are dropped from the requirements: the image's Spark provides pyspark, and a pip
# copy would shadow it with another version. Re-running installs nothing new.
set -euo pipefail

log() { echo "init_dl_helpers: $*" >&2; }
die() { log "error: $*"; exit 1; }
metadata() {
  # Instance metadata, only on a Dataproc node and only for settings not given in the environment.
  if [ -x /usr/share/google/get_metadata_value ]; then
    /usr/share/google/get_metadata_value "attributes/$1" 2>/dev/null || true
  fi
}

python=${PYTHON:-/opt/conda/default/bin/python}
home=${SPARK_DL_HOME:-$(metadata spark-dl-home)}
home=${home%/}
framework=${FRAMEWORK:-$(metadata spark-dl-framework)}
requirements=${REQUIREMENTS:-}
wheel=${DL_HELPERS_WHEEL:-}
discovery=${GPU_DISCOVERY_SCRIPT:-/usr/local/share/spark-dl/get_gpus_resources.sh}
shared_gcs=${SHARED_GCS-$(metadata spark-dl-shared)}
shared_mount=${SHARED_MOUNT:-/mnt/gcs/dl_inference}

[ -x "$python" ] || die "no Python at '$python' (set PYTHON)"

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

# Files from SPARK_DL_HOME: copied from Cloud Storage, or read in place from a local folder.
fetch() {
  case "$home" in
    gs://*)
      gcloud storage cp --quiet "$home/$1" "$workdir/$1" >&2
      echo "$workdir/$1"
      ;;
    *) echo "$home/$1" ;;
  esac
}
newest_wheel() {
  case "$home" in
    gs://*) gcloud storage ls "$home/dl_helpers-*.whl" 2>/dev/null | sed 's#.*/##' ;;
    *) find "$home" -maxdepth 1 -name 'dl_helpers-*.whl' -exec basename {} \; ;;
  esac | sort -V | tail -n 1
}

if [ -z "$requirements" ]; then
  [ -n "$home" ] || die "set SPARK_DL_HOME (or cluster metadata spark-dl-home) or REQUIREMENTS"
  case "$framework" in
    torch | tf) ;;
    *) die "FRAMEWORK (metadata spark-dl-framework) must be 'torch' or 'tf', not '$framework'" ;;
  esac
  requirements=$(fetch "requirements-$framework.txt")
fi
if [ "$requirements" != none ] && [ ! -f "$requirements" ]; then
  die "requirements file not found: $requirements"
fi
if [ -z "$wheel" ]; then
  [ -n "$home" ] || die "set SPARK_DL_HOME (or cluster metadata spark-dl-home) or DL_HELPERS_WHEEL"
  name=$(newest_wheel)
  [ -n "$name" ] || die "no dl_helpers-*.whl in $home: run 'make wheel' and dataproc/upload.sh"
  wheel=$(fetch "$name")
fi
[ -f "$wheel" ] || die "wheel not found: $wheel"

pip=("$python" -m pip install --no-input --disable-pip-version-check --quiet)
if [ "$requirements" != none ]; then
  # grep exits 1 when every line was dropped; that is not an error here.
  grep -viE '^[[:space:]]*pyspark([^a-z0-9_.-]|$)' "$requirements" >"$workdir/requirements.txt" ||
    [ $? -eq 1 ] || die "cannot read $requirements"
  log "installing $requirements into $python (pyspark left to the image)"
  "${pip[@]}" -r "$workdir/requirements.txt"
fi

log "installing $wheel"
# First with its dependencies (nothing happens when they are there), then the uploaded build
# itself again, so a rebuilt wheel with an unchanged version number still replaces the old one.
"${pip[@]}" "$wheel"
"${pip[@]}" --force-reinstall --no-deps "$wheel"
"$python" -c 'import dl_helpers, dl_helpers.session
print("init_dl_helpers: dl_helpers", dl_helpers.__version__, "from", dl_helpers.__file__)'

# Spark's GPU discovery script (spark.executor.resource.gpu.discoveryScript, set by
# create_cluster.sh): prints this node's GPUs as {"name": "gpu", "addresses": ["0", ...]}.
cat >"$workdir/discovery.sh" <<'EOF'
#!/usr/bin/env bash
# Spark GPU discovery script, written by the spark-dl initialization action.
set -euo pipefail
ids=$(nvidia-smi --query-gpu=index --format=csv,noheader | tr -d ' ' | paste -sd, -)
if [ -z "$ids" ]; then
  echo '{"name": "gpu", "addresses": []}'
else
  echo "{\"name\": \"gpu\", \"addresses\": [\"${ids//,/\", \"}\"]}"
fi
EOF
mkdir -p "$(dirname "$discovery")"
install -m 0755 "$workdir/discovery.sh" "$discovery"
log "GPU discovery script: $discovery"

# Shared storage: the same bucket folder at the same path on every node, so the executors open
# the files the notebook's driver wrote (Parquet, models). gcsfuse comes from Google's apt
# repository. Jupyter and YARN containers run as different users, and Cloud Storage has no
# per-user permissions (access is the bucket's IAM), so the mount is open to every local user.
if [ -n "$shared_gcs" ] && [ "$shared_gcs" != none ]; then
  shared_gcs=${shared_gcs#gs://}
  bucket_name=${shared_gcs%%/*}
  prefix=${shared_gcs#"$bucket_name"}
  prefix=${prefix#/}
  if ! command -v gcsfuse >/dev/null 2>&1; then
    log "installing gcsfuse"
    codename=$(lsb_release -cs)
    curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg |
      gpg --dearmor -o /usr/share/keyrings/cloud.google.gpg
    echo "deb [signed-by=/usr/share/keyrings/cloud.google.gpg] https://packages.cloud.google.com/apt gcsfuse-$codename main" \
      >/etc/apt/sources.list.d/gcsfuse.list
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcsfuse
  fi
  mkdir -p "$shared_mount"
  if ! mountpoint -q "$shared_mount"; then
    only_dir=()
    [ -z "$prefix" ] || only_dir=(--only-dir "$prefix")
    gcsfuse --implicit-dirs "${only_dir[@]}" -o allow_other --file-mode 666 --dir-mode 777 \
      "$bucket_name" "$shared_mount"
  fi
  log "shared storage: gs://$shared_gcs mounted at $shared_mount"
fi
