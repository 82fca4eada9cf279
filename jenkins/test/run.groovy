// The harness's runner: loads every cases/*.groovy, runs each test in it and prints one line
// per test, then "N passed, N failed". Exit status 1 when a test failed.
//
//   groovy -cp jenkins/test:jenkins/test/stubs jenkins/test/run.groovy jenkins [name filter]
// (jenkins/test/run.sh does that with JAVA_HOME set.)

File root = new File(args ? args[0] : 'jenkins').canonicalFile
String filter = args.length > 1 ? args[1] : ''
File casesDir = new File(root, 'test/cases')

Map<String, Closure> tests = [:]
Closure register = { String name, Closure body ->
    assert !tests.containsKey(name): "two tests named ${name}"
    tests[name] = body
}
casesDir.listFiles().findAll { file -> file.name.endsWith('.groovy') }.sort { file -> file.name }.each { file ->
    Binding binding = new Binding(test: register, root: root)
    new GroovyShell(getClass().classLoader, binding).evaluate(file)
}

int passed = 0
int failed = 0
long started = System.currentTimeMillis()
Map<String, Closure> selected = tests.findAll { name, body -> name.contains(filter) }
selected.each { name, body ->
    Harness.INSTANCES.clear()
    try {
        body.call()
        // Whatever a test did, no fake secret may have reached a step's arguments.
        Harness.INSTANCES.each { harness -> harness.checkNoSecretLeaked() }
        passed++
        println "ok   ${name}"
    } catch (Throwable problem) {
        failed++
        println "FAIL ${name}"
        println problem.toString().readLines().collect { line -> '     ' + line }.join('\n')
        if (!(problem instanceof AssertionError)) {
            problem.stackTrace.findAll { frame -> frame.fileName?.endsWith('.groovy') }.take(8).each { frame ->
                println "       at ${frame.fileName}:${frame.lineNumber}"
            }
        }
    }
}
println "jenkins harness: ${selected.size()} of ${tests.size()} tests in ${System.currentTimeMillis() - started} ms"
println "${passed} passed, ${failed} failed"
System.exit(failed || passed == 0 ? 1 : 0)
