#!/usr/bin/env bash
# Runs the Groovy harness of the Jenkins library: bash jenkins/test/run.sh [test name filter]
# Needs Debian's groovy and a JDK (bash jenkins/install-tools.sh installs both).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=jenkins/test/java-home.sh
source "$here/java-home.sh"
exec groovy -cp "$here:$here/stubs" "$here/run.groovy" "$(dirname "$here")" "${1:-}"
