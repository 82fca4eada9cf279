#!/usr/bin/env bash
# The orb's `publish` command: `pubkit publish` with the command's parameters.
# The credentials are read from the variables that username_var, password_var and token_var
# name, checked before anything runs, exported as PUBKIT_INDEX_* for pubkit alone and never
# printed. Parameters: PARAM_INDEX_URL, PARAM_UPLOAD_URL, PARAM_USERNAME_VAR,
# PARAM_PASSWORD_VAR, PARAM_TOKEN_VAR, PARAM_PACKAGES, PARAM_WORKSPACE, PARAM_DIST.
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

for var in "$PARAM_TOKEN_VAR" "$PARAM_USERNAME_VAR" "$PARAM_PASSWORD_VAR"; do
    if [[ ! "$var" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
        fail "'$var' is not an environment variable name"
    fi
done
if [[ -n "${!PARAM_TOKEN_VAR:-}" ]]; then
    export PUBKIT_INDEX_TOKEN="${!PARAM_TOKEN_VAR}"
    unset PUBKIT_INDEX_USERNAME PUBKIT_INDEX_PASSWORD
else
    for var in "$PARAM_USERNAME_VAR" "$PARAM_PASSWORD_VAR"; do
        if [[ -z "${!var:-}" ]]; then
            fail "$var is not set: it holds the index credentials (or set $PARAM_TOKEN_VAR)"
        fi
    done
    export PUBKIT_INDEX_USERNAME="${!PARAM_USERNAME_VAR}"
    export PUBKIT_INDEX_PASSWORD="${!PARAM_PASSWORD_VAR}"
    unset PUBKIT_INDEX_TOKEN
fi

args=(publish --workspace "$PARAM_WORKSPACE" --dist "$PARAM_DIST")
if [[ -n "${PARAM_INDEX_URL:-}" ]]; then
    args+=(--index-url "$PARAM_INDEX_URL")
fi
if [[ -n "${PARAM_UPLOAD_URL:-}" ]]; then
    args+=(--upload-url "$PARAM_UPLOAD_URL")
fi
read -r -a packages < <(printf '%s\n' "${PARAM_PACKAGES:-}")
args+=("${packages[@]}")

run pubkit "${args[@]}"
