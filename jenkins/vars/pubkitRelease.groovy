// pubkitRelease: `pubkit release` of a monorepo, with the index credentials bound from Jenkins.
// The help shown in Jenkins is pubkitRelease.txt beside this file.
//
// Everything a release decides is decided by the pubkit CLI: this step only binds the
// credentials, runs the command, publishes what it wrote and maps its exit code to the build.
// Secrets reach pubkit as environment variables (PUBKIT_INDEX_USERNAME/PASSWORD or
// PUBKIT_INDEX_TOKEN), which pubkit reads itself: no script here names them, so Groovy never
// interpolates one and the shell's trace (`set -x`) never prints one.
import groovy.transform.Field

@Field final String RESULT_FILE = 'pubkit-release.json'
@Field final String JUNIT_FILE = 'pubkit-release.xml'
@Field final Map DEFAULTS = [
    indexUrl: null,            // the simple index URL (PUBKIT_INDEX_URL)
    credentialsId: null,       // a username/password credential for the index
    tokenCredentialsId: null,  // or a secret-text token credential (sent as user __token__)
    gitCredentialsId: null,    // a username/password credential to push tags over HTTPS
    workspace: '.',            // the monorepo's root, relative to the Jenkins workspace
    bump: null,                // --bump major|minor|patch|pre|dev
    dev: null,                 // --dev N: X.Y.Z.devN builds of the changed packages
    dryRun: false,             // --dry-run
    jobs: 2,                   // --jobs
    pushTags: true,            // --push: the tags, and the release commit of a bump
    commit: true,              // false: --no-commit
    packages: [],              // only these packages (and the ones they need)
].asImmutable()

/**
 * Runs `pubkit release` in config.workspace (see pubkitRelease.txt) and returns its result
 * (the parsed pubkit-release.json) when every package went through. On exit code 1 (a step
 * failed) or 2 (a usage or configuration error) the build becomes FAILURE, its description
 * says what happened, and the step fails with pubkit's reasons.
 */
Map call(Map config = [:]) {
    Map options = settings(config)
    String command = releaseScript(options)
    int status = -1
    Map result = null
    dir(options.workspace) {
        withBindings(options, gitBindings(options)) {
            status = sh(script: command, returnStatus: true, label: 'pubkit release')
        }
        junit(testResults: 'reports/*.xml,pubkit-release.xml', allowEmptyResults: true)
        archiveArtifacts(artifacts: 'dist/**,pubkit-release.json', allowEmptyArchive: true,
                         fingerprint: true)
        if (fileExists(RESULT_FILE)) {
            result = readJSON(file: RESULT_FILE, returnPojo: true)
        }
    }
    return conclude(status, result)
}

/**
 * Runs body with PUBKIT_INDEX_URL set and the index credentials bound as pubkitRelease binds
 * them, for the other pubkit commands (pubkit build, test, plan, publish).
 */
void withIndexCredentials(Map config, Closure body) {
    withBindings(settings(config), [], body)
}

/** The options pubkitRelease takes (pubkitPipeline passes them through). */
List<String> optionNames() {
    return DEFAULTS.keySet() as List<String>
}

/** The options with their defaults; fails with a clear message on a missing or unknown one. */
Map settings(Map config) {
    List<String> unknown = unknownKeys(config)
    if (unknown) {
        error("pubkitRelease: unknown option(s) ${unknown.join(', ')}; the options are " +
              DEFAULTS.keySet().join(', '))
    }
    Map options = DEFAULTS + config
    if (!options.indexUrl) {
        error('pubkitRelease: indexUrl is required: the simple index URL, such as ' +
              'https://pypi.example.com/simple/')
    }
    if (!options.credentialsId && !options.tokenCredentialsId) {
        error('pubkitRelease: credentialsId (a username/password credential) or ' +
              'tokenCredentialsId (a secret-text token credential) is required')
    }
    if (options.credentialsId && options.tokenCredentialsId) {
        error('pubkitRelease: give credentialsId or tokenCredentialsId, not both')
    }
    return options
}

void withBindings(Map options, List extra, Closure body) {
    List bindings = [indexBinding(options)] + extra
    withEnv(["PUBKIT_INDEX_URL=${options.indexUrl}"]) {
        withCredentials(bindings) {
            body()
        }
    }
}

Object indexBinding(Map options) {
    if (options.tokenCredentialsId) {
        return string(credentialsId: options.tokenCredentialsId, variable: 'PUBKIT_INDEX_TOKEN')
    }
    return usernamePassword(credentialsId: options.credentialsId,
                            usernameVariable: 'PUBKIT_INDEX_USERNAME',
                            passwordVariable: 'PUBKIT_INDEX_PASSWORD')
}

List gitBindings(Map options) {
    // The Git plugin's binding: git itself gets the credential (GIT_ASKPASS) for `git push`.
    return options.gitCredentialsId ?
        [gitUsernamePassword(credentialsId: options.gitCredentialsId, gitToolName: 'Default')] : []
}

Map conclude(int status, Map result) {
    if (result == null) {
        currentBuild.result = 'FAILURE'
        error("pubkit release exited with ${status} and wrote no ${RESULT_FILE}: " +
              'is pubkit installed and on the PATH (see pubkitInstall)?')
    }
    currentBuild.description = describe(result)
    if (status != 0) {
        currentBuild.result = 'FAILURE'
        error(failureMessage(status, result))
    }
    return result
}

@NonCPS
List<String> unknownKeys(Map config) {
    return (config.keySet()*.toString() - DEFAULTS.keySet()).sort()
}

/** The shell script: constant words and shell-quoted option values, never a secret. */
@NonCPS
String releaseScript(Map options) {
    List words = ['pubkit', 'release'] + options.packages + ['--jobs', options.jobs]
    if (options.bump) {
        words += ['--bump', options.bump]
    }
    if (options.dev != null) {
        words += ['--dev', options.dev]
    }
    if (options.dryRun) {
        words << '--dry-run'
    }
    if (options.pushTags) {
        words << '--push'
    }
    if (!options.commit) {
        words << '--no-commit'
    }
    words += ['--json', RESULT_FILE, '--junit', JUNIT_FILE]
    // A result file left by an earlier build must never be read as this one's.
    return "rm -f ${RESULT_FILE} ${JUNIT_FILE}\n" + words.collect { word -> quote(word) }.join(' ')
}

@NonCPS
String quote(Object word) {
    String text = word
    if (text ==~ /[A-Za-z0-9_.,:\/=@%+-]+/) {
        return text
    }
    return "'" + text.replace("'", "'\\''") + "'"
}

/** The build description: what was released, planned, failed, blocked or cancelled (an
 *  aborted build: pubkit stops on SIGTERM, exits 143 and still writes its result). */
@NonCPS
String describe(Map result) {
    if (result.error) {
        return "pubkit release: ${result.error}"
    }
    List packages = result.packages ?: []
    Map labels = [released: 'released', planned: 'would release', failed: 'failed',
                  blocked: 'blocked', cancelled: 'cancelled']
    List<String> parts = []
    labels.each { status, label ->
        List names = packages.findAll { item -> item.status == status }.collect { item -> named(item) }
        if (names) {
            parts << "${label} ${names.join(', ')}".toString()
        }
    }
    String text = parts ? parts.join('; ') : 'nothing to release'
    int skipped = packages.count { item -> item.status == 'skipped' }
    if (skipped) {
        text += " (${skipped} skipped)"
    }
    return result.dry_run ? "dry run: ${text}" : text
}

@NonCPS
String failureMessage(int status, Map result) {
    if (result.error) {
        return "pubkit release stopped (exit ${status}): ${result.error}"
    }
    List reasons = (result.packages ?: []).findAll { item ->
        item.status in ['failed', 'blocked', 'cancelled'] }
        .collect { item -> "${named(item)} ${item.status}: ${item.reason}" }
    return "pubkit release failed (exit ${status})" + (reasons ? ': ' + reasons.join('; ') : '')
}

@NonCPS
String named(Map item) {
    return item.version ? "${item.name} ${item.version}" : item.name
}
