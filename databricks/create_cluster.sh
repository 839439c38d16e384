#!/usr/bin/env bash
# Create a Databricks GPU cluster for the inference notebooks through the Databricks CLI.
#
#   FRAMEWORK=torch DATABRICKS_USER=me@example.com databricks/create_cluster.sh aws|azure
#
# The cluster JSON comes from databricks/cluster-{aws,azure}.json (node types, runtime) and
# dl_helpers.session (the Spark settings: Arrow, Python worker reuse, one executor per GPU node,
# task GPU amount = 1 / cores per executor). Settings:
#   FRAMEWORK         torch | tf (required): what the init script installs
#   DATABRICKS_USER   your user name (required): the cluster's single user, and the default home
#   SPARK_DL_HOME     where upload.sh put the files (default /Users/$DATABRICKS_USER/spark-dl;
#                     a /Volumes/... folder works too)
#   CLUSTER_NAME      default spark-dl-inference-$FRAMEWORK
#   NUM_WORKERS, SPARK_VERSION   override the template's
#   DRY_RUN=1         print the JSON (stdout) and the exact command (stderr); contact nothing
# An existing cluster of the same name is left alone (its id is printed), so re-running is safe.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

# shellcheck source=SCRIPTDIR/../ci/print_cmd.sh
source "$repo/ci/print_cmd.sh"

usage() {
  echo "usage: FRAMEWORK=torch|tf DATABRICKS_USER=you@example.com $0 aws|azure" >&2
  exit 2
}
[ $# -eq 1 ] || usage
cloud=$1
case "$cloud" in
  aws | azure) ;;
  *) usage ;;
esac
framework=${FRAMEWORK:-}
user=${DATABRICKS_USER:-}
if [ -z "$framework" ] || [ -z "$user" ]; then usage; fi
home=${SPARK_DL_HOME:-/Users/$user/spark-dl}
name=${CLUSTER_NAME:-spark-dl-inference-$framework}

render=(--template "$here/cluster-$cloud.json" --framework "$framework" --home "$home"
  --cluster-name "$name" --single-user "$user")
[ -z "${NUM_WORKERS:-}" ] || render+=(--num-workers "$NUM_WORKERS")
[ -z "${SPARK_VERSION:-}" ] || render+=(--spark-version "$SPARK_VERSION")
json=$(PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" python3 -m dl_helpers.session databricks "${render[@]}")

cmd=(databricks clusters create --json "$json")
if [ "${DRY_RUN:-0}" = 1 ]; then
  printf '%s\n' "$json"
  print_cmd "${cmd[@]}" >&2
  exit 0
fi

command -v databricks >/dev/null || {
  echo "the Databricks CLI is not on PATH (see databricks/README.md)" >&2
  exit 1
}
existing=$(databricks clusters list --output json | python3 -c '
import json, sys
data = json.load(sys.stdin)
clusters = data.get("clusters", []) if isinstance(data, dict) else data
ids = [c["cluster_id"] for c in clusters or [] if c.get("cluster_name") == sys.argv[1]]
print(ids[0] if ids else "")' "$name")
if [ -n "$existing" ]; then
  echo "cluster '$name' already exists: $existing (start it with: databricks clusters start $existing)"
  exit 0
fi
"${cmd[@]}"
