#!/usr/bin/env bash
# The orb's `test` job: build, check and test the packages as a release would, publishing and
# tagging nothing. Parameters: PARAM_INDEX_URL, PARAM_PACKAGES, PARAM_WORKSPACE,
# PARAM_RESULTS_DIR.
set -euo pipefail

# Prints a command (any user:password@ in a URL masked), then runs it.
run() {
    printf '%s\n' "$*" | sed -E 's#://[^/@ ]+@#://***@#g'
    "$@"
}

mkdir -p "$PARAM_RESULTS_DIR/junit"
results="$(cd "$PARAM_RESULTS_DIR" && pwd)"
read -r -a packages < <(printf '%s\n' "${PARAM_PACKAGES:-}")
index=()
if [[ -n "${PARAM_INDEX_URL:-}" ]]; then
    index=(--index-url "$PARAM_INDEX_URL")
fi

run pubkit build --workspace "$PARAM_WORKSPACE" "${packages[@]}"
run pubkit check --workspace "$PARAM_WORKSPACE" "${packages[@]}"
run pubkit test --workspace "$PARAM_WORKSPACE" --reports "$results/junit/packages" "${index[@]}" \
    "${packages[@]}"
