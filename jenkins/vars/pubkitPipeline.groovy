// pubkitPipeline: the whole declarative pipeline of a monorepo released with pubkit, for a
// multibranch job. The help shown in Jenkins is pubkitPipeline.txt beside this file.
//
//   every build      check out the branch with its tags, install pubkit, build and test every
//                    package (pubkit build, pubkit test; JUnit published)
//   other branches   dev releases of the changed packages: X.Y.Z.devBUILD_NUMBER, no tags
//   the main branch  the release: versions, builds, tests, uploads, tags, pushed
//   pull requests    the tests only: nothing from a change request reaches the index
import groovy.transform.Field

@Field final Map PIPELINE_DEFAULTS = [
    mainBranch: 'main',    // the branch that releases
    devReleases: true,     // dev releases on the other branches (never on pull requests)
    devNumber: null,       // N of X.Y.Z.devN; null: BUILD_NUMBER
    pubkitVersion: null,   // pubkitInstall's version; null: the one this library pins
    pipIndexUrl: null,     // the pip index that serves pubkit itself
    python: 'python3',
    agentLabel: '',        // '' runs on any agent
    timeoutMinutes: 60,
].asImmutable()

// Jenkins checks out a detached HEAD. pubkit pushes the release commit of a bump to the
// branch it is on and refuses (exit 2) on a detached HEAD, so the pipeline checks out the
// branch under its own name: the release commit lands on main, and the tags mark it.
@Field final String BRANCH_SCRIPT = 'git checkout -B "$BRANCH_NAME"'
@Field final String TEST_SCRIPT = 'pubkit build\npubkit test'

void call(Map config = [:]) {
    Map plan = prepare(config)
    Map state = [bin: null]

    pipeline {
        agent { label plan.own.agentLabel }
        options {
            skipDefaultCheckout()
            disableConcurrentBuilds()
            timeout(time: plan.own.timeoutMinutes, unit: 'MINUTES')
        }
        stages {
            stage('Checkout') {
                steps {
                    checkout(checkoutWithTags())
                    sh(script: BRANCH_SCRIPT, label: 'check out the branch, not a detached HEAD')
                }
            }
            stage('Install pubkit') {
                steps {
                    script {
                        state.bin = pubkitInstall(plan.install)
                    }
                }
            }
            stage('Test') {
                steps {
                    script {
                        runTests(plan, state.bin)
                    }
                }
                post {
                    always {
                        dir(plan.workspace) {
                            junit(testResults: 'reports/*.xml', allowEmptyResults: true)
                        }
                    }
                }
            }
            stage('Dev release') {
                when {
                    expression { devBuild(plan.own) }
                }
                steps {
                    script {
                        String number = plan.own.devNumber != null ? plan.own.devNumber : env.BUILD_NUMBER
                        runRelease(plan, state.bin, [dev: number, bump: null, pushTags: false])
                    }
                }
            }
            stage('Release') {
                when {
                    expression { releaseBuild(plan.own) }
                }
                steps {
                    script {
                        runRelease(plan, state.bin, [:])
                    }
                }
            }
        }
    }
}

/** Checks the options (before any agent is taken) and splits them by the step they are for. */
Map prepare(Map config) {
    List<String> unknown = unknownKeys(config, pubkitRelease.optionNames())
    if (unknown) {
        error("pubkitPipeline: unknown option(s) ${unknown.join(', ')}; the options are " +
              (PIPELINE_DEFAULTS.keySet() + pubkitRelease.optionNames()).join(', '))
    }
    if (!env.BRANCH_NAME) {
        error('pubkitPipeline: BRANCH_NAME is not set: run it in a multibranch pipeline job, ' +
              'or write the stages yourself with pubkitInstall and pubkitRelease')
    }
    Map own = PIPELINE_DEFAULTS + config.subMap(PIPELINE_DEFAULTS.keySet())
    Map release = releaseOptions(config)
    pubkitRelease.settings(release)  // a missing indexUrl or credential fails here
    Map install = [python: own.python]
    if (own.pubkitVersion) {
        install.version = own.pubkitVersion
    }
    if (own.pipIndexUrl) {
        install.indexUrl = own.pipIndexUrl
    }
    return [own: own, release: release, install: install, workspace: release.workspace ?: '.']
}

/** Every package built and tested, with pubkit on the PATH and the index credentials bound. */
void runTests(Map plan, String bin) {
    withEnv(["PATH+PUBKIT=${bin}"]) {
        pubkitRelease.withIndexCredentials(plan.release) {
            dir(plan.workspace) {
                sh(script: TEST_SCRIPT, label: 'pubkit build, pubkit test')
            }
        }
    }
}

void runRelease(Map plan, String bin, Map overrides) {
    withEnv(["PATH+PUBKIT=${bin}"]) {
        pubkitRelease(plan.release + overrides)
    }
}

/** Dev releases: branches other than the main one, never a pull request (a fork's code). */
boolean devBuild(Map own) {
    return own.devReleases && !env.CHANGE_ID && env.BRANCH_NAME != own.mainBranch
}

boolean releaseBuild(Map own) {
    return !env.CHANGE_ID && env.BRANCH_NAME == own.mainBranch
}

/** The job's own checkout, with the tags (pubkit finds the last releases by them), unshallow. */
Map checkoutWithTags() {
    return [
        $class: 'GitSCM',
        branches: scm.branches,
        extensions: scm.extensions + [[$class: 'CloneOption', noTags: false, shallow: false,
                                       depth: 0, reference: '', honorRefspec: false]],
        userRemoteConfigs: scm.userRemoteConfigs,
    ]
}

@NonCPS
List<String> unknownKeys(Map config, List<String> releaseKeys) {
    return (config.keySet()*.toString() - PIPELINE_DEFAULTS.keySet() - releaseKeys).sort()
}

@NonCPS
Map releaseOptions(Map config) {
    return config.findAll { key, value -> !PIPELINE_DEFAULTS.containsKey(key) }
}
