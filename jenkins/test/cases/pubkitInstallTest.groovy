// vars/pubkitInstall.groovy: one pinned pubkit in a virtualenv, values through the environment.

String installScript = '"$PUBKIT_INSTALL_PYTHON" -m venv "$PUBKIT_INSTALL_VENV"\n' +
    '"$PUBKIT_INSTALL_VENV/bin/python" -m pip install -q --disable-pip-version-check ' +
    '"$PUBKIT_INSTALL_REQUIREMENT"\n' +
    '"$PUBKIT_INSTALL_VENV/bin/pubkit" --version'

test('pubkitInstall: the pinned default version into .pubkit-venv; returns the absolute bin directory') {
    Harness h = Harness.library(root)
    String bin = h.binding.getVariable('pubkitInstall').call()
    assert bin == '/jenkins/workspace/acme_monorepo_main/.pubkit-venv/bin'
    assert h.only('withEnv').args == ['PUBKIT_INSTALL_PYTHON=python3', 'PUBKIT_INSTALL_VENV=.pubkit-venv',
                                      'PUBKIT_INSTALL_REQUIREMENT=pubkit==0.1.0']
    Map sh = h.only('sh')
    assert sh.args == [script: installScript, label: 'install pubkit 0.1.0']
    assert !sh.gstring
    assert sh.env.PUBKIT_INSTALL_REQUIREMENT == 'pubkit==0.1.0'
    assert !sh.env.containsKey('PIP_INDEX_URL')
    assert h.steps() == ['withEnv', 'sh']
}

test('pubkitInstall: version, virtualenv, interpreter and the pip index are options') {
    Harness h = Harness.library(root)
    String bin = h.binding.getVariable('pubkitInstall').call(
        version: '0.2.0rc1', venv: '/opt/pubkit', python: 'python3.12',
        indexUrl: 'https://pypi.acme.example/simple/')
    assert bin == '/opt/pubkit/bin'
    assert h.only('withEnv').args == ['PUBKIT_INSTALL_PYTHON=python3.12', 'PUBKIT_INSTALL_VENV=/opt/pubkit',
                                      'PUBKIT_INSTALL_REQUIREMENT=pubkit==0.2.0rc1',
                                      'PIP_INDEX_URL=https://pypi.acme.example/simple/']
    assert h.only('sh').script == installScript
}

test('pubkitInstall: inside dir(...) the returned path is under that directory') {
    Harness h = Harness.library(root)
    String bin = h.runPipelineText("dir('tools') { return pubkitInstall() }")
    assert bin == '/jenkins/workspace/acme_monorepo_main/tools/.pubkit-venv/bin'
    assert h.only('sh').dir == 'tools'
}

test('pubkitInstall: a version range or an empty version is refused: the install is pinned') {
    Harness h = Harness.library(root)
    Object step = h.binding.getVariable('pubkitInstall')
    assert h.failure { step.call(version: '>=0.1') } ==
        "pubkitInstall: version must be one exact version, such as 0.1.0; got '>=0.1'"
    assert h.failure { step.call(version: '0.1.*') }.endsWith("got '0.1.*'")
    assert h.failure { step.call(version: null) }.endsWith("got ''")
    assert h.failure { step.call(venv: 'x', versions: '1') } ==
        'pubkitInstall: unknown option(s) versions; the options are version, venv, python, indexUrl'
    assert h.called('sh').isEmpty()
}
