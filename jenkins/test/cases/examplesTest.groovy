// examples/Jenkinsfile.*: each runs through the harness, with the library loaded as
// `@Library('pubkit') _` would, and does what its comments say.

String indexUrl = 'https://pypi.acme.example/simple/'

Closure run = { String path, Map env = [:], Map params = [:] ->
    Harness h = Harness.library(root)
    h.env.putAll(env)
    h.params.putAll(params)
    h.json = Fixtures.released()
    h.runJenkinsfile(path)
    return h
}

test('examples/Jenkinsfile.minimal: pubkitPipeline with the index and push credentials') {
    Harness h = run('examples/Jenkinsfile.minimal')
    List<String> lines = new File(root, 'examples/Jenkinsfile.minimal').readLines()
    assert lines.size() == 3 && lines[0] == "@Library('pubkit') _"
    assert h.declarative.ran() == ['Checkout', 'Install pubkit', 'Test', 'Release']
    assert h.called('withCredentials')*.args == [
        [[binding: 'usernamePassword', credentialsId: 'pubkit-index', usernameVariable: 'PUBKIT_INDEX_USERNAME',
          passwordVariable: 'PUBKIT_INDEX_PASSWORD']],
        [[binding: 'usernamePassword', credentialsId: 'pubkit-index', usernameVariable: 'PUBKIT_INDEX_USERNAME',
          passwordVariable: 'PUBKIT_INDEX_PASSWORD'],
         [binding: 'gitUsernamePassword', credentialsId: 'git-push', gitToolName: 'Default']],
    ]
    assert h.sh('pubkit release').env.PUBKIT_INDEX_URL == indexUrl
}

test('examples/Jenkinsfile.monorepo on main: a bump chosen by hand, token credential, pushed') {
    Harness h = run('examples/Jenkinsfile.monorepo', [:], [BUMP: 'minor', DRY_RUN: false])
    assert h.declarative.ran() == ['Checkout', 'Install pubkit', 'Test', 'Release']
    assert h.only('pipeline').args.parameters*.name == ['choice', 'booleanParam']
    assert h.scripts()[0] == 'git checkout -B "$BRANCH_NAME"'
    Map tests = h.sh('pubkit test')
    assert tests.script.readLines()*.trim().findAll() == ['pubkit plan', 'pubkit build', 'pubkit test']
    assert tests.env.PUBKIT_INDEX_TOKEN == 'fake-secret-text-of-pubkit-index-token'
    Map release = h.sh('pubkit release')
    assert release.script == 'rm -f pubkit-release.json pubkit-release.xml\n' +
        'pubkit release --jobs 4 --bump minor --push --json pubkit-release.json --junit pubkit-release.xml'
    assert release.env.PATH.startsWith('/jenkins/workspace/acme_monorepo_main/.pubkit-venv/bin:')
    assert release.env.GIT_PASSWORD == 'fake-git-password-of-git-push'
    assert h.called('checkout').size() == 1
    assert h.only('checkout').args.extensions.last() == [$class: 'CloneOption', noTags: false, shallow: false,
                                                         depth: 0, reference: '', honorRefspec: false]
}

test('examples/Jenkinsfile.monorepo: BUMP none and DRY_RUN give a dry run of the written versions') {
    Harness h = run('examples/Jenkinsfile.monorepo', [:], [BUMP: 'none', DRY_RUN: true])
    assert h.sh('pubkit release').script == 'rm -f pubkit-release.json pubkit-release.xml\n' +
        'pubkit release --jobs 4 --dry-run --push --json pubkit-release.json --junit pubkit-release.xml'
}

test('examples/Jenkinsfile.monorepo on a branch: a dev release; on a pull request: tests only') {
    Harness branch = run('examples/Jenkinsfile.monorepo', [BRANCH_NAME: 'feature/x'], [BUMP: 'none', DRY_RUN: false])
    assert branch.declarative.ran() == ['Checkout', 'Install pubkit', 'Test', 'Dev release']
    assert branch.sh('pubkit release').script == 'rm -f pubkit-release.json pubkit-release.xml\n' +
        'pubkit release --jobs 4 --dev 42 --json pubkit-release.json --junit pubkit-release.xml'
    Harness pr = run('examples/Jenkinsfile.monorepo', [BRANCH_NAME: 'PR-3', CHANGE_ID: '3'], [BUMP: 'none'])
    assert pr.declarative.ran() == ['Checkout', 'Install pubkit', 'Test']
}

test('examples/Jenkinsfile.consumer: tests and image get the index URL from a secret-text credential') {
    Harness h = run('examples/Jenkinsfile.consumer')
    assert h.declarative.ran() == ['Test', 'Image', 'Push']
    Map binding = [binding: 'string', credentialsId: 'pubkit-index-url', variable: 'PIP_INDEX_URL']
    assert h.called('withCredentials')*.args == [[binding], [binding]]
    Map image = h.sh('docker build')
    // --build-arg NAME without a value: docker takes it from the environment, so the URL with
    // its credentials is on no command line and in no Groovy string.
    assert image.script == 'docker build --build-arg PIP_INDEX_URL --tag "$IMAGE" .'
    assert !image.gstring
    assert image.env.PIP_INDEX_URL == 'fake-secret-text-of-pubkit-index-url'
    assert image.env.IMAGE == 'registry.acme.example/acme/catalog-worker:42'
    Map tests = h.sh('pytest')
    assert tests.env.PIP_INDEX_URL == 'fake-secret-text-of-pubkit-index-url'
    assert !tests.script.contains('PIP_INDEX_URL')  // pip reads it from the environment
    assert h.only('junit').args == [testResults: 'reports/junit.xml', allowEmptyResults: true]
    Map push = h.sh('docker push')
    assert push.script == 'docker push "$IMAGE"'
    assert !push.env.containsKey('PIP_INDEX_URL')
}

test('examples/Jenkinsfile.consumer on a branch: no push') {
    Harness h = run('examples/Jenkinsfile.consumer', [BRANCH_NAME: 'feature/x'])
    assert h.declarative.ran() == ['Test', 'Image']
    assert h.declarative.status('Push') == 'skipped: when'
}
