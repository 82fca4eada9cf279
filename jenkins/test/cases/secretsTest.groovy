// Secrets stay out of Groovy strings, statically (the syntax tree of every file) and at run
// time (the fake secrets of the credential bindings never reach a step's arguments; the
// runner checks that after every test). Both checks are shown to catch a leak.

List<File> varFiles = new File(root, 'vars').listFiles().findAll { file -> file.name.endsWith('.groovy') }
List<File> jenkinsfiles = new File(root, 'examples').listFiles().findAll { file -> file.name.startsWith('Jenkinsfile') }
List<File> pipelineFiles = (varFiles + jenkinsfiles).sort { file -> file.name }

test('secrets: no double-quoted string in vars/ or examples/ names a secret') {
    assert pipelineFiles*.name == ['Jenkinsfile.consumer', 'Jenkinsfile.minimal', 'Jenkinsfile.monorepo',
                                   'pubkitInstall.groovy', 'pubkitPipeline.groovy', 'pubkitRelease.groovy']
    pipelineFiles.each { file ->
        assert SecretScan.scanFile(file) == []
    }
}

test('secrets: the scan catches a GString with a credential variable, by name or through env, in methods too') {
    List<String> problems = SecretScan.scanFile(new File(root, 'test/fixtures/leaky-scan.txt'))
    assert problems.size() == 3
    assert problems[0].startsWith('leaky-scan.txt:4: a double-quoted string names the secret ' +
                                  'PUBKIT_INDEX_PASSWORD, PUBKIT_INDEX_USERNAME')
    assert problems[1].startsWith('leaky-scan.txt:7: a double-quoted string names the secret API_KEY')
    assert problems[2].startsWith('leaky-scan.txt:11: a double-quoted string names the secret API_KEY')
}

test('secrets: the run-time check catches a secret that Groovy interpolated') {
    Harness h = new Harness(root)
    h.runJenkinsfile('test/fixtures/leaky-run.txt')
    assert h.only('sh').gstring
    String caught = null
    try {
        h.checkNoSecretLeaked()
    } catch (AssertionError expected) {
        caught = expected.message
    }
    Harness.INSTANCES.remove(h)  // its leak is this test's point, not a failure of the run
    assert caught?.contains('the secret fake-secret-text-of-pubkit-token leaked into sh')
}

test('library layout: each vars/*.groovy has its vars/*.txt help, naming the step') {
    List<String> vars = new File(root, 'vars').list().findAll { name -> name.endsWith('.groovy') }.sort()
    assert vars == Harness.VARS.collect { name -> "${name}.groovy".toString() }.sort()
    Harness.VARS.each { name ->
        File help = new File(root, "vars/${name}.txt")
        assert help.isFile()
        assert help.text.contains("${name}(")
    }
}
