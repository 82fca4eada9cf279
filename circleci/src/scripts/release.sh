#!/usr/bin/env bash
# The orb's `release` command: `pubkit release` with the command's parameters.
# The credentials are read from the variables that username_var, password_var and token_var
# name, checked before anything runs, exported as PUBKIT_INDEX_* for pubkit alone and never
# printed. Parameters: PARAM_INDEX_URL, PARAM_UPLOAD_URL, PARAM_USERNAME_VAR,
# PARAM_PASSWORD_VAR, PARAM_TOKEN_VAR, PARAM_BUMP, PARAM_DEV_BUILD, PARAM_DRY_RUN, PARAM_JOBS,
# PARAM_PUSH, PARAM_COMMIT, PARAM_PACKAGES, PARAM_WORKSPACE, PARAM_RESULTS_DIR.
set -euo pipefail

fail() {
    echo "error: $*" >&2
    exit 2
}

# Prints a command (any user:password@ in a URL masked), then runs it.
run() {
    printf '%s\n' "$*" | sed -E 's#://[^/@ ]+@#://***@#g'
    "$@"
}

# Exports PUBKIT_INDEX_TOKEN, or PUBKIT_INDEX_USERNAME and PUBKIT_INDEX_PASSWORD; with
# "optional", missing credentials are no error (pubkit then looks for them itself).
export_credentials() {
    local var
    for var in "$PARAM_TOKEN_VAR" "$PARAM_USERNAME_VAR" "$PARAM_PASSWORD_VAR"; do
        if [[ ! "$var" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
            fail "'$var' is not an environment variable name"
        fi
    done
    if [[ -n "${!PARAM_TOKEN_VAR:-}" ]]; then
        export PUBKIT_INDEX_TOKEN="${!PARAM_TOKEN_VAR}"
        unset PUBKIT_INDEX_USERNAME PUBKIT_INDEX_PASSWORD
        return 0
    fi
    for var in "$PARAM_USERNAME_VAR" "$PARAM_PASSWORD_VAR"; do
        if [[ -z "${!var:-}" && "${1:-}" != optional ]]; then
            fail "$var is not set: it holds the index credentials (or set $PARAM_TOKEN_VAR)"
        fi
    done
    if [[ -n "${!PARAM_USERNAME_VAR:-}" && -n "${!PARAM_PASSWORD_VAR:-}" ]]; then
        export PUBKIT_INDEX_USERNAME="${!PARAM_USERNAME_VAR}"
        export PUBKIT_INDEX_PASSWORD="${!PARAM_PASSWORD_VAR}"
        unset PUBKIT_INDEX_TOKEN
    fi
}

if [[ "$PARAM_DRY_RUN" == true ]]; then
    export_credentials optional
else
    export_credentials
fi

mkdir -p "$PARAM_RESULTS_DIR/junit"
results="$(cd "$PARAM_RESULTS_DIR" && pwd)"
args=(release --workspace "$PARAM_WORKSPACE" --jobs "$PARAM_JOBS"
    --json "$results/release.json" --junit "$results/junit/release.xml"
    --reports "$results/junit/packages")
if [[ -n "${PARAM_INDEX_URL:-}" ]]; then
    args+=(--index-url "$PARAM_INDEX_URL")
fi
if [[ -n "${PARAM_UPLOAD_URL:-}" ]]; then
    args+=(--upload-url "$PARAM_UPLOAD_URL")
fi
if [[ "$PARAM_BUMP" != none ]]; then
    args+=(--bump "$PARAM_BUMP")
fi
if [[ "$PARAM_DEV_BUILD" == true ]]; then
    if [[ -z "${CIRCLE_BUILD_NUM:-}" ]]; then
        fail "CIRCLE_BUILD_NUM is not set: dev_build numbers the dev versions with it"
    fi
    args+=(--dev "$CIRCLE_BUILD_NUM")
fi
if [[ "$PARAM_DRY_RUN" == true ]]; then
    args+=(--dry-run)
fi
if [[ "$PARAM_PUSH" == true ]]; then
    args+=(--push)
fi
if [[ "$PARAM_COMMIT" != true ]]; then
    args+=(--no-commit)
fi
read -r -a packages < <(printf '%s\n' "${PARAM_PACKAGES:-}")
args+=("${packages[@]}")

run pubkit "${args[@]}"
