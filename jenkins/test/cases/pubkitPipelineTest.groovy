// vars/pubkitPipeline.groovy: the declarative pipeline, run by the harness's interpreter
// with the real pubkitInstall and pubkitRelease under it.

String indexUrl = 'https://pypi.acme.example/simple/'
String venvBin = '/jenkins/workspace/acme_monorepo_main/.pubkit-venv/bin'
String releaseScript = 'rm -f pubkit-release.json pubkit-release.xml\n' +
    'pubkit release --jobs 2 --push --json pubkit-release.json --junit pubkit-release.xml'
String devReleaseScript = 'rm -f pubkit-release.json pubkit-release.xml\n' +
    'pubkit release --jobs 2 --dev 42 --json pubkit-release.json --junit pubkit-release.xml'
Map pipelineConfig = [indexUrl: indexUrl, credentialsId: 'pubkit-index', gitCredentialsId: 'git-push']

/** Runs pubkitPipeline(config) with the given environment; returns the harness. */
Closure build = { Map config, Map env = [:], Map json = Fixtures.released(), Closure onSh = null ->
    Harness h = Harness.library(root)
    h.env.putAll(env)
    h.json = json
    if (onSh != null) {
        h.onSh = onSh
    }
    try {
        h.binding.getVariable('pubkitPipeline').call(config)
    } catch (PipelineError error) {
        h.binding.setVariable('failure', error.message)
    }
    return h
}

test('pubkitPipeline on main: checkout with tags on the branch, install, test, release with --push') {
    Harness h = build(pipelineConfig)
    assert h.declarative.ran() == ['Checkout', 'Install pubkit', 'Test', 'Release']
    assert h.declarative.status('Dev release') == 'skipped: when'
    assert h.scripts() == [
        'git checkout -B "$BRANCH_NAME"',
        h.scripts()[1],  // pubkitInstall's own script, asserted in its tests
        'pubkit build\npubkit test',
        releaseScript,
    ]
    assert h.scripts()[1].contains('"$PUBKIT_INSTALL_VENV/bin/pubkit" --version')
    assert h.called('sh').every { call -> !call.gstring }
    // The release ran with pubkit on the PATH, the index credentials and the git push credential.
    Map release = h.sh('pubkit release')
    assert release.env.PATH.startsWith(venvBin + ':')
    assert release.env.PUBKIT_INDEX_PASSWORD == 'fake-password-of-pubkit-index'
    assert release.env.GIT_PASSWORD == 'fake-git-password-of-git-push'
    assert h.currentBuild.description == 'released acme-core 1.3.0, acme-text 1.1.0 (2 skipped)'
    assert h.currentBuild.result == null
}

test('pubkitPipeline: one checkout, of the job\'s own SCM with tags and full history') {
    Harness h = build(pipelineConfig)
    Map checkout = h.only('checkout')
    assert checkout.args == [
        $class: 'GitSCM',
        branches: h.scm.branches,
        extensions: h.scm.extensions + [[$class: 'CloneOption', noTags: false, shallow: false, depth: 0,
                                         reference: '', honorRefspec: false]],
        userRemoteConfigs: h.scm.userRemoteConfigs,
    ]
    Map pipeline = h.only('pipeline').args
    assert pipeline.agent == [label: '']
    assert pipeline.options*.name == ['skipDefaultCheckout', 'disableConcurrentBuilds', 'timeout']
    assert pipeline.options[2].args == [[time: 60, unit: 'MINUTES']]
    // The branch is checked out right after the checkout, before anything else runs.
    assert h.steps().indexOf('checkout') + 1 == h.steps().indexOf('sh')
}

test('pubkitPipeline: the tests run with the index credentials, and their JUnit is published') {
    Harness h = build(pipelineConfig + [workspace: 'python'])
    Map tests = h.sh('pubkit test')
    assert tests.args == [script: 'pubkit build\npubkit test', label: 'pubkit build, pubkit test']
    assert tests.dir == 'python'
    assert tests.env.PATH.startsWith(venvBin + ':')
    assert tests.env.PUBKIT_INDEX_URL == indexUrl
    assert tests.env.PUBKIT_INDEX_USERNAME == 'fake-user-of-pubkit-index'
    assert !tests.env.containsKey('GIT_PASSWORD')  // the push credential only where pubkit pushes
    Map junit = h.called('junit')[0]
    assert junit.args == [testResults: 'reports/*.xml', allowEmptyResults: true]
    assert junit.dir == 'python'
}

test('pubkitPipeline on another branch: a dev release, BUILD_NUMBER as N, no push, no tags') {
    Harness h = build(pipelineConfig, [BRANCH_NAME: 'feature/retry'])
    assert h.declarative.ran() == ['Checkout', 'Install pubkit', 'Test', 'Dev release']
    assert h.declarative.status('Release') == 'skipped: when'
    assert h.sh('pubkit release').script == devReleaseScript
}

test('pubkitPipeline: devNumber replaces BUILD_NUMBER; devReleases false turns dev releases off') {
    Harness numbered = build(pipelineConfig + [devNumber: '20260101'], [BRANCH_NAME: 'develop'])
    assert numbered.sh('pubkit release').script.contains(' --dev 20260101 ')
    Harness off = build(pipelineConfig + [devReleases: false], [BRANCH_NAME: 'develop'])
    assert off.declarative.ran() == ['Checkout', 'Install pubkit', 'Test']
    assert off.called('sh').every { call -> !call.script.contains('pubkit release') }
}

test('pubkitPipeline on a pull request: the tests only, nothing reaches the index') {
    Harness h = build(pipelineConfig, [BRANCH_NAME: 'PR-17', CHANGE_ID: '17', CHANGE_TARGET: 'main'])
    assert h.declarative.ran() == ['Checkout', 'Install pubkit', 'Test']
    assert h.declarative.status('Dev release') == 'skipped: when'
    assert h.declarative.status('Release') == 'skipped: when'
}

test('pubkitPipeline: options reach pubkit release (bump, jobs, workspace, token, mainBranch)') {
    Map config = [indexUrl: indexUrl, tokenCredentialsId: 'pubkit-token', bump: 'minor', jobs: 4,
                  workspace: 'python', mainBranch: 'trunk', pubkitVersion: '0.2.0',
                  agentLabel: 'linux && python', timeoutMinutes: 30]
    Harness h = build(config, [BRANCH_NAME: 'trunk'])
    Map release = h.sh('pubkit release')
    assert release.script == 'rm -f pubkit-release.json pubkit-release.xml\n' +
        'pubkit release --jobs 4 --bump minor --push --json pubkit-release.json --junit pubkit-release.xml'
    assert release.dir == 'python'
    assert release.env.PUBKIT_INDEX_TOKEN == 'fake-secret-text-of-pubkit-token'
    assert h.sh(' --version').env.PUBKIT_INSTALL_REQUIREMENT == 'pubkit==0.2.0'
    assert h.only('pipeline').args.agent == [label: 'linux && python']
    assert h.only('pipeline').args.options[2].args == [[time: 30, unit: 'MINUTES']]
}

test('pubkitPipeline: failing tests fail the build, still publish their JUnit, and stop the releases') {
    Harness h = build(pipelineConfig, [:], Fixtures.released()) { Map call ->
        call.script.contains('pubkit test') ? 1 : 0
    }
    assert h.declarative.status('Test') == 'FAILURE'
    assert h.declarative.status('Release') == 'skipped: an earlier stage failed'
    assert h.binding.getVariable('failure') == 'script returned exit code 1'
    assert h.currentBuild.result == 'FAILURE'
    assert h.called('junit')*.args == [[testResults: 'reports/*.xml', allowEmptyResults: true]]
    assert h.called('sh').every { call -> !call.script.contains('pubkit release') }
}

test('pubkitPipeline: a release that fails (exit 1) fails the Release stage and the build') {
    Harness h = build(pipelineConfig, [:], Fixtures.failed()) { Map call ->
        call.script.contains('pubkit release') ? 1 : 0
    }
    assert h.declarative.status('Release') == 'FAILURE'
    assert h.currentBuild.result == 'FAILURE'
    assert h.currentBuild.description == 'released acme-core 1.3.0; failed acme-aws 1.0.1; ' +
        'blocked acme-kafka 1.1.0 (1 skipped)'
    assert h.binding.getVariable('failure') == 'pubkit release failed (exit 1): acme-aws 1.0.1 failed: ' +
        'test: 2 failed, 31 passed; acme-kafka 1.1.0 blocked: acme-aws failed'
}

test('pubkitPipeline: a missing indexUrl or credential, or an unknown option, fails before any agent') {
    [
        [[credentialsId: 'pubkit-index'], 'pubkitRelease: indexUrl is required'],
        [[indexUrl: indexUrl], 'pubkitRelease: credentialsId (a username/password credential) or'],
        [pipelineConfig + [mainbranch: 'trunk'],
         'pubkitPipeline: unknown option(s) mainbranch; the options are mainBranch'],
    ].each { Map config, String message ->
        Harness h = build(config)
        assert h.binding.getVariable('failure').startsWith(message)
        assert h.declarative == null
        assert h.called('checkout').isEmpty() && h.called('sh').isEmpty()
    }
}

test('pubkitPipeline: without BRANCH_NAME (not a multibranch job) it says what to do') {
    Harness h = build(pipelineConfig, [BRANCH_NAME: null])
    assert h.binding.getVariable('failure') == 'pubkitPipeline: BRANCH_NAME is not set: run it in a ' +
        'multibranch pipeline job, or write the stages yourself with pubkitInstall and pubkitRelease'
    assert h.declarative == null
}
