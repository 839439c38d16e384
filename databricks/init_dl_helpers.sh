#!/usr/bin/env bash
# Databricks cluster-scoped init script: installs the chosen framework's pinned requirements and
# the dl_helpers wheel into the cluster's Python, on the driver and on every worker.
#
# The cluster definition made by create_cluster.sh sets FRAMEWORK and SPARK_DL_HOME (the folder
# upload.sh filled: init script, requirements-*.txt, dl_helpers-*.whl). Every setting can be
# overridden, which is how the tests run this script against a throwaway virtual environment:
#   PYTHON            Python to install into        (default /databricks/python/bin/python)
#   SPARK_DL_HOME     folder with the uploaded files
#   FRAMEWORK         torch | tf: picks requirements-$FRAMEWORK.txt
#   REQUIREMENTS      a requirements file instead, or "none" to install only dl_helpers
#   DL_HELPERS_WHEEL  a wheel instead of the newest $SPARK_DL_HOME/dl_helpers-*.whl
# pyspark lines are dropped from the requirements: the runtime's own Spark provides pyspark, and a
# pip copy would shadow it with another version. Re-running installs nothing new.
set -euo pipefail

python=${PYTHON:-/databricks/python/bin/python}
home=${SPARK_DL_HOME:-}
framework=${FRAMEWORK:-}
requirements=${REQUIREMENTS:-}
wheel=${DL_HELPERS_WHEEL:-}

log() { echo "init_dl_helpers: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ -x "$python" ] || die "no Python at '$python' (set PYTHON)"

if [ -z "$requirements" ]; then
  [ -n "$home" ] || die "set SPARK_DL_HOME (the uploaded folder) or REQUIREMENTS"
  case "$framework" in
    torch | tf) ;;
    *) die "FRAMEWORK must be 'torch' or 'tf', not '$framework'" ;;
  esac
  requirements=$home/requirements-$framework.txt
fi
if [ "$requirements" != none ] && [ ! -f "$requirements" ]; then
  die "requirements file not found: $requirements"
fi
if [ -z "$wheel" ]; then
  [ -n "$home" ] || die "set SPARK_DL_HOME (the uploaded folder) or DL_HELPERS_WHEEL"
  wheel=$(find "$home" -maxdepth 1 -name 'dl_helpers-*.whl' | sort -V | tail -n 1)
  [ -n "$wheel" ] || die "no dl_helpers-*.whl in $home: run 'make wheel' and databricks/upload.sh"
fi
[ -f "$wheel" ] || die "wheel not found: $wheel"

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
pip=("$python" -m pip install --no-input --disable-pip-version-check --quiet)

if [ "$requirements" != none ]; then
  # grep exits 1 when every line was dropped; that is not an error here.
  grep -viE '^[[:space:]]*pyspark([^a-z0-9_.-]|$)' "$requirements" >"$workdir/requirements.txt" ||
    [ $? -eq 1 ] || die "cannot read $requirements"
  log "installing $requirements into $python (pyspark left to the runtime)"
  "${pip[@]}" -r "$workdir/requirements.txt"
fi

log "installing $wheel"
# First with its dependencies (nothing happens when they are there), then the uploaded build
# itself again, so a rebuilt wheel with an unchanged version number still replaces the old one.
"${pip[@]}" "$wheel"
"${pip[@]}" --force-reinstall --no-deps "$wheel"

"$python" -c 'import dl_helpers, dl_helpers.session
print("init_dl_helpers: dl_helpers", dl_helpers.__version__, "from", dl_helpers.__file__)'
