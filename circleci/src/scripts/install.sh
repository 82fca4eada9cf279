#!/usr/bin/env bash
# The orb's `install` command: pubkit in its own virtual environment, put on PATH for the
# steps that follow through $BASH_ENV (which CircleCI sources before every step).
# Parameters: PARAM_PIP_SPEC, PARAM_VENV_DIR, PARAM_PYTHON.
set -euo pipefail

fail() {
    echo "error: $*" >&2
    exit 2
}

if [[ -z "${BASH_ENV:-}" ]]; then
    fail "BASH_ENV is not set: CircleCI sets it, and install puts pubkit on PATH through it"
fi
read -r -a spec < <(printf '%s\n' "$PARAM_PIP_SPEC")
if [[ ${#spec[@]} -eq 0 ]]; then
    fail "the pip_spec parameter is empty: name what pip installs (e.g. pubkit==0.1.0)"
fi
venv_dir="${PARAM_VENV_DIR/#\~/$HOME}"

"$PARAM_PYTHON" -m venv "$venv_dir"
"$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check "${spec[@]}"
# $PATH stays unexpanded: it is expanded when CircleCI sources $BASH_ENV before each step.
# shellcheck disable=SC2016
printf 'export PATH=%q/bin:"$PATH"\n' "$venv_dir" >>"$BASH_ENV"
"$venv_dir/bin/pubkit" --version
