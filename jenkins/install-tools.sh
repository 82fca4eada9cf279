#!/usr/bin/env bash
# Installs what the Jenkins library's tests need (tests/ci/test_jenkins.py), from Debian's
# packages, and only what is missing: a second run installs nothing and takes a few ms.
#   groovy                   Debian's 2.4.21: the Groovy that Jenkins runs pipelines with
#   default-jdk-headless     a JDK, unless a Debian OpenJDK is already installed
#   libcodenarc-groovy-java  CodeNarc, the linter of jenkins/test/lint.sh
# Usage: bash jenkins/install-tools.sh   (as root, or with sudo)
set -euo pipefail

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
if ! compgen -G '/usr/lib/jvm/java-*-openjdk-*/bin/javac' >/dev/null; then
    missing+=(default-jdk-headless)
fi
installed groovy || missing+=(groovy)
installed libcodenarc-groovy-java || missing+=(libcodenarc-groovy-java)

if [ "${#missing[@]}" -eq 0 ]; then
    echo "jenkins tools: groovy, a JDK and CodeNarc are installed"
    exit 0
fi

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "jenkins tools: installing ${missing[*]}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Quiet when it works; apt's whole output when it does not.
if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
       "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
           --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: could not install ${missing[*]}" >&2
    exit 1
fi
echo "jenkins tools: installed ${missing[*]}"
