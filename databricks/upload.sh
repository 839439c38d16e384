#!/usr/bin/env bash
# Upload what a Databricks cluster needs to the workspace (or a Unity Catalog volume):
# the init script, both requirement files, the dl_helpers wheel and the notebooks.
#
#   DATABRICKS_USER=me@example.com databricks/upload.sh
#
#   DATABRICKS_USER   your user name (required unless SPARK_DL_HOME is given)
#   SPARK_DL_HOME     target folder (default /Users/$DATABRICKS_USER/spark-dl); /Volumes/... too
#   WHEEL             the wheel to upload (default: the newest dist/dl_helpers-*.whl; 'make wheel')
#   DRY_RUN=1         print the commands instead of running them
# Files are overwritten, so re-running after a change uploads the new versions.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

# shellcheck source=SCRIPTDIR/../ci/print_cmd.sh
source "$repo/ci/print_cmd.sh"

user=${DATABRICKS_USER:-}
if [ -z "${SPARK_DL_HOME:-}" ] && [ -z "$user" ]; then
  echo "usage: DATABRICKS_USER=you@example.com $0   (or SPARK_DL_HOME=/Users/.../spark-dl)" >&2
  exit 2
fi
home=${SPARK_DL_HOME:-/Users/$user/spark-dl}
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

files=("$here/init_dl_helpers.sh" "$repo/requirements-torch.txt" "$repo/requirements-tf.txt" "$wheel")
case "$home" in
  /Volumes/*)
    run databricks fs mkdir "dbfs:$home"
    for f in "${files[@]}"; do
      run databricks fs cp --overwrite "$f" "dbfs:$home/$(basename "$f")"
    done
    # Notebooks belong in the workspace, not in a volume.
    nb_home=/Users/${user:?set DATABRICKS_USER: notebooks go to /Users/\$DATABRICKS_USER}/spark-dl
    ;;
  *)
    run databricks workspace mkdirs "$home"
    for f in "${files[@]}"; do
      run databricks workspace import "$home/$(basename "$f")" --file "$f" --format RAW --overwrite
    done
    nb_home=$home
    ;;
esac
run databricks workspace import-dir "$repo/notebooks" "$nb_home/notebooks" --overwrite
echo "uploaded to $home (notebooks in $nb_home/notebooks)" >&2
