#!/usr/bin/env bash
# Lints the Jenkins library with Debian's CodeNarc: bash jenkins/test/lint.sh
# Needs groovy, a JDK and libcodenarc-groovy-java (bash jenkins/install-tools.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=jenkins/test/java-home.sh
source "$here/java-home.sh"
if [ ! -f /usr/share/java/CodeNarc.jar ]; then
    echo "error: CodeNarc is not installed; run: bash jenkins/install-tools.sh" >&2
    exit 2
fi
exec groovy -cp /usr/share/java/CodeNarc.jar:/usr/share/java/GMetrics.jar:/usr/share/java/log4j-1.2.jar \
    "$here/lint.groovy" "$(dirname "$here")"
