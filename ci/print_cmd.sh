#!/usr/bin/env bash
# print_cmd ARG...: print a command so it can be pasted into a shell, arguments quoted only where
# needed. Sourced by the cloud scripts (databricks/*.sh, dataproc/*.sh) for their dry runs.
set -euo pipefail

print_cmd() {
  local a out=()
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
      out+=("$a")
    else
      out+=("'${a//\'/\'\\\'\'}'")
    fi
  done
  printf '%s\n' "${out[*]}"
}
