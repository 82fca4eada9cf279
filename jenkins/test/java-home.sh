# Sourced by run.sh and lint.sh: Debian's groovy needs JAVA_HOME, and no JDK sets it on
# Debian. Keeps a JAVA_HOME that has a java; otherwise takes the JDK that Debian installed
# (the java alternative under /usr/lib/jvm), else the JDK of the java on the PATH.
if [ -z "${JAVA_HOME:-}" ] || [ ! -x "${JAVA_HOME}/bin/java" ]; then
    java_path="$(update-alternatives --list java 2>/dev/null | grep '^/usr/lib/jvm/' | head -n1 || true)"
    if [ -z "$java_path" ] && command -v java >/dev/null; then
        java_path="$(readlink -f "$(command -v java)")"
    fi
    if [ -z "$java_path" ]; then
        echo "error: no Java found; run: bash jenkins/install-tools.sh" >&2
        exit 2
    fi
    JAVA_HOME="$(dirname "$(dirname "$java_path")")"
    export JAVA_HOME
fi
