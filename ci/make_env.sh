#!/usr/bin/env bash
# Create or refresh one project environment: .envs/NAME from REQUIREMENTS + requirements-dev.txt,
# with dl_helpers installed in editable mode and a Jupyter kernel "dl-NAME" registered inside the
# environment (--sys-prefix: nothing is written to the user's own Jupyter folders).
set -euo pipefail

name=${1:?usage: make_env.sh NAME REQUIREMENTS}
reqs=${2:?usage: make_env.sh NAME REQUIREMENTS}
python=${PYTHON:-python3}
env_dir=.envs/$name
start=$(date +%s)

if ! command -v java >/dev/null 2>&1; then
  echo "warning: no 'java' on PATH; PySpark needs Java 17+ (Debian: apt-get install openjdk-17-jre-headless)" >&2
fi

if [ ! -x "$env_dir/bin/python" ]; then
  "$python" -m venv "$env_dir"
fi
"$env_dir/bin/python" -m pip install --quiet --upgrade "pip>=24,<27"
# One resolver run for everything, so the pins in both files constrain each other.
"$env_dir/bin/python" -m pip install --quiet -r "$reqs" -r requirements-dev.txt -e .
"$env_dir/bin/python" -m ipykernel install --sys-prefix --name "dl-$name" \
  --display-name "Python (dl $name)" >/dev/null
"$env_dir/bin/python" -m pip check
touch "$env_dir/.installed"
echo "environment $env_dir ready in $(( $(date +%s) - start )) s"
