// pubkitInstall: one pinned version of pubkit in a virtualenv of the Jenkins workspace.
// The help shown in Jenkins is pubkitInstall.txt beside this file.
import groovy.transform.Field

// The pubkit release this library is written and tested against.
@Field final String PUBKIT_VERSION = '0.1.0'
@Field final Map DEFAULTS = [
    version: PUBKIT_VERSION,  // one exact version: pip installs pubkit==VERSION
    venv: '.pubkit-venv',     // the virtualenv, relative to the current directory
    python: 'python3',        // the interpreter that creates it (Python >= 3.10)
    indexUrl: null,           // the pip index that serves pubkit (PIP_INDEX_URL); else pip's own
].asImmutable()

// Values arrive as environment variables: the script is one constant text.
@Field final String INSTALL_SCRIPT = [
    '"$PUBKIT_INSTALL_PYTHON" -m venv "$PUBKIT_INSTALL_VENV"',
    '"$PUBKIT_INSTALL_VENV/bin/python" -m pip install -q --disable-pip-version-check ' +
        '"$PUBKIT_INSTALL_REQUIREMENT"',
    '"$PUBKIT_INSTALL_VENV/bin/pubkit" --version',
].join('\n')

/**
 * Installs pubkit==version into the virtualenv (again: a no-op when it is there) and returns
 * the absolute path of the virtualenv's bin directory, for withEnv(["PATH+PUBKIT=${bin}"]).
 */
String call(Map config = [:]) {
    List<String> unknown = unknownKeys(config)
    if (unknown) {
        error("pubkitInstall: unknown option(s) ${unknown.join(', ')}; the options are " +
              DEFAULTS.keySet().join(', '))
    }
    Map options = DEFAULTS + config
    String version = options.version ? options.version.toString() : ''
    if (!pinned(version)) {
        error("pubkitInstall: version must be one exact version, such as ${PUBKIT_VERSION}; " +
              "got '${version}'")
    }
    List environment = [
        "PUBKIT_INSTALL_PYTHON=${options.python}",
        "PUBKIT_INSTALL_VENV=${options.venv}",
        "PUBKIT_INSTALL_REQUIREMENT=pubkit==${version}",
    ]
    if (options.indexUrl) {
        environment << "PIP_INDEX_URL=${options.indexUrl}"
    }
    withEnv(environment) {
        sh(script: INSTALL_SCRIPT, label: "install pubkit ${version}")
    }
    String venv = options.venv
    return venv.startsWith('/') ? "${venv}/bin" : "${pwd()}/${venv}/bin"
}

@NonCPS
List<String> unknownKeys(Map config) {
    return (config.keySet()*.toString() - DEFAULTS.keySet()).sort()
}

/** A PEP 440 release, pre-, post- or dev release: one version, not a range. */
@NonCPS
boolean pinned(String version) {
    return version ==~ /\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?/
}
