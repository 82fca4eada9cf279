// vars/pubkitRelease.groovy: the command, the credential bindings, what is published, and how
// pubkit's exit code and result file become the build's result and description.

String indexUrl = 'https://pypi.acme.example/simple/'
String defaultScript = 'rm -f pubkit-release.json pubkit-release.xml\n' +
    'pubkit release --jobs 2 --push --json pubkit-release.json --junit pubkit-release.xml'
Map userBinding = [binding: 'usernamePassword', credentialsId: 'pubkit-index',
                    usernameVariable: 'PUBKIT_INDEX_USERNAME', passwordVariable: 'PUBKIT_INDEX_PASSWORD']

Closure released = { Map config, Map json = Fixtures.released(), int status = 0 ->
    Harness h = Harness.library(root)
    h.json = json
    h.onSh = { Map call -> call.script.contains('pubkit release') ? status : 0 }
    Object returned = null
    String message = null
    try {
        returned = h.binding.getVariable('pubkitRelease').call(config)
    } catch (PipelineError error) {
        message = error.message
    }
    return [h: h, returned: returned, message: message]
}

test('pubkitRelease: the default command, run once, as a constant single-quoted script') {
    Map run = released(indexUrl: indexUrl, credentialsId: 'pubkit-index')
    Harness h = run.h
    Map sh = h.only('sh')
    assert sh.script == defaultScript
    assert sh.args == [script: defaultScript, returnStatus: true, label: 'pubkit release']
    assert !sh.gstring
    // pubkit reads the credentials from its environment: the script never names them, so
    // neither Groovy nor the shell's trace can expand them.
    assert !sh.script.contains('PUBKIT_INDEX')
    assert !sh.script.contains('$')
    assert sh.dir == '.'
}

test('pubkitRelease: a username/password credential becomes PUBKIT_INDEX_USERNAME/PASSWORD, bound only around pubkit') {
    Map run = released(indexUrl: indexUrl, credentialsId: 'pubkit-index')
    Harness h = run.h
    assert h.only('withCredentials').args == [userBinding]
    assert h.only('withEnv').args == ["PUBKIT_INDEX_URL=${indexUrl}".toString()]
    Map sh = h.only('sh')
    assert sh.env.PUBKIT_INDEX_URL == indexUrl
    assert sh.env.PUBKIT_INDEX_USERNAME == 'fake-user-of-pubkit-index'
    assert sh.env.PUBKIT_INDEX_PASSWORD == 'fake-password-of-pubkit-index'
    assert !sh.env.containsKey('PUBKIT_INDEX_TOKEN')
    // The steps after pubkit see no credential and no index variable.
    h.calls.findAll { call -> call.step in ['junit', 'archiveArtifacts', 'readJSON'] }.each { call ->
        assert !call.env.keySet().any { name -> name.startsWith('PUBKIT_INDEX') }
    }
    assert h.steps() == ['dir', 'withEnv', 'withCredentials', 'sh', 'junit', 'archiveArtifacts',
                         'fileExists', 'readJSON']
}

test('pubkitRelease: a secret-text token becomes PUBKIT_INDEX_TOKEN through string(...)') {
    Map run = released(indexUrl: indexUrl, tokenCredentialsId: 'pubkit-token')
    Harness h = run.h
    assert h.only('withCredentials').args == [
        [binding: 'string', credentialsId: 'pubkit-token', variable: 'PUBKIT_INDEX_TOKEN']]
    Map sh = h.only('sh')
    assert sh.env.PUBKIT_INDEX_TOKEN == 'fake-secret-text-of-pubkit-token'
    assert !sh.env.containsKey('PUBKIT_INDEX_PASSWORD')
    assert sh.script == defaultScript
}

test('pubkitRelease: JUnit (per-package pytest and the release steps) published, dist/ and the result archived') {
    Harness h = released(indexUrl: indexUrl, credentialsId: 'pubkit-index').h
    assert h.only('junit').args == [testResults: 'reports/*.xml,pubkit-release.xml', allowEmptyResults: true]
    assert h.only('archiveArtifacts').args == [artifacts: 'dist/**,pubkit-release.json',
                                               allowEmptyArchive: true, fingerprint: true]
    assert h.only('readJSON').args == [file: 'pubkit-release.json', returnPojo: true]
    assert h.only('fileExists').args == 'pubkit-release.json'
}

test('pubkitRelease: exit 0 sets the description from the result and returns it; the result is left alone') {
    Map run = released(indexUrl: indexUrl, credentialsId: 'pubkit-index')
    Harness h = run.h
    assert run.message == null
    assert h.currentBuild.description == 'released acme-core 1.3.0, acme-text 1.1.0 (2 skipped)'
    assert h.currentBuild.result == null
    assert run.returned.pushed == ['acme-core-v1.3.0', 'acme-text-v1.1.0']
    assert h.called('error').isEmpty()
}

test('pubkitRelease: exit 0 with nothing to release says so') {
    Map run = released([indexUrl: indexUrl, credentialsId: 'pubkit-index'], Fixtures.nothing())
    assert run.h.currentBuild.description == 'nothing to release (1 skipped)'
    assert run.h.currentBuild.result == null
}

test('pubkitRelease: every option maps to its flag; values are shell-quoted, never interpolated') {
    Map run = released([indexUrl: indexUrl, credentialsId: 'pubkit-index', gitCredentialsId: 'git-push',
                        workspace: 'python/monorepo', bump: 'minor', dryRun: true, jobs: 4,
                        pushTags: false, commit: false, packages: ['acme-core', "it's here"]],
                       Fixtures.planned())
    Harness h = run.h
    assert h.only('sh').script == 'rm -f pubkit-release.json pubkit-release.xml\n' +
        "pubkit release acme-core 'it'\\''s here' --jobs 4 --bump minor --dry-run --no-commit " +
        '--json pubkit-release.json --junit pubkit-release.xml'
    assert h.only('dir').args == 'python/monorepo'
    ['sh', 'junit', 'archiveArtifacts', 'readJSON'].each { step -> assert h.only(step).dir == 'python/monorepo' }
    assert h.only('withCredentials').args == [
        userBinding, [binding: 'gitUsernamePassword', credentialsId: 'git-push', gitToolName: 'Default']]
    assert h.currentBuild.description == 'dry run: would release acme-core 1.3.0 (1 skipped)'
}

test('pubkitRelease: a dev build passes --dev N; pushTags false drops --push') {
    Map run = released(indexUrl: indexUrl, credentialsId: 'pubkit-index', dev: '57', pushTags: false)
    assert run.h.only('sh').script == 'rm -f pubkit-release.json pubkit-release.xml\n' +
        'pubkit release --jobs 2 --dev 57 --json pubkit-release.json --junit pubkit-release.xml'
}

test('pubkitRelease: exit 1 (a step failed) makes the build FAILURE, names the released and failed packages') {
    Map run = released([indexUrl: indexUrl, credentialsId: 'pubkit-index'], Fixtures.failed(), 1)
    Harness h = run.h
    assert h.currentBuild.result == 'FAILURE'
    assert h.currentBuild.description == 'released acme-core 1.3.0; failed acme-aws 1.0.1; ' +
        'blocked acme-kafka 1.1.0 (1 skipped)'
    assert run.message == 'pubkit release failed (exit 1): acme-aws 1.0.1 failed: test: 2 failed, ' +
        '31 passed; acme-kafka 1.1.0 blocked: acme-aws failed'
    // The test reports and what was built are published before the step fails.
    assert h.steps().indexOf('junit') < h.steps().indexOf('error')
    assert h.steps().indexOf('archiveArtifacts') < h.steps().indexOf('error')
}

test('pubkitRelease: exit 1 without a package to blame (the index unreachable) reports pubkit\'s error') {
    Map run = released([indexUrl: indexUrl, credentialsId: 'pubkit-index'], Fixtures.unreachable(), 1)
    assert run.h.currentBuild.result == 'FAILURE'
    assert run.h.currentBuild.description == 'pubkit release: ' + Fixtures.unreachable().error
    assert run.message == 'pubkit release stopped (exit 1): ' + Fixtures.unreachable().error
}

test('pubkitRelease: exit 2 (a usage or configuration error) makes the build FAILURE with pubkit\'s message') {
    Map run = released([indexUrl: indexUrl, credentialsId: 'pubkit-index'], Fixtures.configError(), 2)
    Harness h = run.h
    assert h.currentBuild.result == 'FAILURE'
    assert h.currentBuild.description == 'pubkit release: ' + Fixtures.configError().error
    assert run.message == 'pubkit release stopped (exit 2): ' + Fixtures.configError().error
    assert h.called('junit').size() == 1  // pubkit writes its JUnit file on exit 2 too
}

test('pubkitRelease: no result file (pubkit did not run) fails clearly without reading one') {
    Map run = released([indexUrl: indexUrl, credentialsId: 'pubkit-index'], null, 127)
    Harness h = run.h
    assert run.message == 'pubkit release exited with 127 and wrote no pubkit-release.json: ' +
        'is pubkit installed and on the PATH (see pubkitInstall)?'
    assert h.currentBuild.result == 'FAILURE'
    assert h.called('readJSON').isEmpty()
}

test('pubkitRelease: a missing indexUrl fails before anything runs') {
    Harness h = Harness.library(root)
    String message = h.failure { h.binding.getVariable('pubkitRelease').call(credentialsId: 'pubkit-index') }
    assert message == 'pubkitRelease: indexUrl is required: the simple index URL, such as ' +
        'https://pypi.example.com/simple/'
    assert h.steps() == ['error']
}

test('pubkitRelease: a missing credential fails before anything runs') {
    Harness h = Harness.library(root)
    String message = h.failure { h.binding.getVariable('pubkitRelease').call(indexUrl: indexUrl) }
    assert message == 'pubkitRelease: credentialsId (a username/password credential) or ' +
        'tokenCredentialsId (a secret-text token credential) is required'
    assert h.steps() == ['error']
}

test('pubkitRelease: two credentials, or an unknown option, are refused') {
    Harness h = Harness.library(root)
    Object step = h.binding.getVariable('pubkitRelease')
    assert h.failure {
        step.call(indexUrl: indexUrl, credentialsId: 'a', tokenCredentialsId: 'b')
    } == 'pubkitRelease: give credentialsId or tokenCredentialsId, not both'
    String unknown = h.failure { step.call(indexUrl: indexUrl, credentialsId: 'a', pushtags: false, dry_run: true) }
    assert unknown.startsWith('pubkitRelease: unknown option(s) dry_run, pushtags; the options are indexUrl, ')
    assert h.called('sh').isEmpty() && h.called('withCredentials').isEmpty()
}

test('pubkitRelease.withIndexCredentials: the same bindings and PUBKIT_INDEX_URL around any pubkit command') {
    Harness h = Harness.library(root)
    h.runPipelineText('''
        pubkitRelease.withIndexCredentials(indexUrl: 'https://pypi.acme.example/simple/',
                                           tokenCredentialsId: 'pubkit-token') {
            sh 'pubkit test'
        }
    ''')
    assert h.only('withCredentials').args == [
        [binding: 'string', credentialsId: 'pubkit-token', variable: 'PUBKIT_INDEX_TOKEN']]
    Map sh = h.only('sh')
    assert sh.env.PUBKIT_INDEX_URL == indexUrl
    assert sh.env.PUBKIT_INDEX_TOKEN == 'fake-secret-text-of-pubkit-token'
    assert h.failure {
        h.runPipelineText("pubkitRelease.withIndexCredentials(indexUrl: 'x') { sh 'pubkit test' }")
    }.startsWith('pubkitRelease: credentialsId (a username/password credential) or')
}
