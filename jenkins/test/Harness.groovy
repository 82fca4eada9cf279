import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.customizers.ImportCustomizer
import org.codehaus.groovy.runtime.InvokerHelper

/**
 * Loads the library's vars scripts (and Jenkinsfiles) with the pipeline steps they use
 * stubbed, and records every step call: its arguments, the directory it ran in and the
 * environment it saw. Credential bindings put recognizable fake secrets into the environment;
 * checkNoSecretLeaked() then proves that none of them reached a step's arguments (a script
 * text, a message, a description) the way a Groovy-interpolated secret would.
 */
class Harness {

    /** Every harness of the running test, for the runner's leak check. */
    static final List<Harness> INSTANCES = []

    static final List<String> VARS = ['pubkitInstall', 'pubkitRelease', 'pubkitPipeline']

    /** Compiled once per run: each harness makes new instances with its own binding. */
    private static final Map<String, Class> COMPILED = [:]
    private static final GroovyClassLoader LOADER = new GroovyClassLoader(
        Harness.classLoader, configuration())

    static CompilerConfiguration configuration() {
        CompilerConfiguration configuration = new CompilerConfiguration()
        configuration.scriptBaseClass = PipelineScript.name
        // Jenkins imports these for every pipeline script and library.
        configuration.addCompilationCustomizers(new ImportCustomizer().addImports(
            'com.cloudbees.groovy.cps.NonCPS', 'org.jenkinsci.plugins.workflow.libs.Library'))
        return configuration
    }

    final File root
    final List<Map> calls = []
    final Map<String, String> env = [
        BRANCH_NAME: 'main', BUILD_NUMBER: '42', JOB_NAME: 'acme/monorepo/main',
        WORKSPACE: '/jenkins/workspace/acme_monorepo_main', PATH: '/usr/local/bin:/usr/bin:/bin',
    ]
    final Map currentBuild = [result: null, description: null, number: 42]
    final Map params = [:]
    final Map scm = [
        branches: [[name: 'main']],
        extensions: [[$class: 'GitSCMSourceDefaults', includeTags: false]],
        userRemoteConfigs: [[url: 'https://git.acme.example/acme/monorepo.git',
                             credentialsId: 'git-checkout']],
    ]
    /** What readJSON returns; null: fileExists says there is no such file. */
    Map json = null
    /** The outcome of an sh call: its exit status (or stdout, for returnStdout). */
    Closure onSh = { Map call -> 0 }
    final Set<String> secrets = [] as Set
    final Binding binding = new Binding()
    Declarative declarative
    private final List<String> directories = []

    Harness(File root) {
        this.root = root
        installSteps()
        INSTANCES << this
    }

    /** A harness with the whole library loaded, as `@Library('pubkit') _` would. */
    static Harness library(File root) {
        Harness harness = new Harness(root)
        VARS.each { name -> harness.load(name) }
        return harness
    }

    Script load(String name) {
        Script script = parse(new File(root, "vars/${name}.groovy").text, name)
        binding.setVariable(name, script)
        return script
    }

    /** Runs a Jenkinsfile of the library's examples/ (or any pipeline script) from its text. */
    Object runPipelineText(String text, String name = 'Jenkinsfile') {
        return parse(text, name.replaceAll(/\W/, '_')).run()
    }

    private Script parse(String text, String name) {
        String key = "${name}\u0000${text}"
        Class compiled = COMPILED[key]
        if (compiled == null) {
            compiled = LOADER.parseClass(text, "${name}.groovy")
            COMPILED[key] = compiled
        }
        return InvokerHelper.createScript(compiled, binding)
    }

    Object runJenkinsfile(String path) {
        return runPipelineText(new File(root, path).text, path)
    }

    // --- what the tests read -------------------------------------------------------------

    List<Map> called(String step) {
        return calls.findAll { call -> call.step == step }
    }

    Map only(String step) {
        List<Map> found = called(step)
        assert found.size() == 1: "expected one ${step} call, got ${found.size()}: ${found*.args}"
        return found[0]
    }

    List<String> steps() {
        return calls*.step
    }

    List<String> scripts() {
        return called('sh')*.script
    }

    /** The sh call whose script contains this text. */
    Map sh(String containing) {
        List<Map> found = called('sh').findAll { call -> call.script.contains(containing) }
        assert found.size() == 1: "expected one sh script with ${containing}: ${scripts()}"
        return found[0]
    }

    /** Runs body, which must fail with the error step; returns the error's message. */
    String failure(Closure body) {
        try {
            body()
        } catch (PipelineError error) {
            assert called('error')*.args.contains(error.message)
            return error.message
        }
        throw new AssertionError('expected the step to fail with error(...), and it did not')
    }

    /** No fake secret appears in any recorded argument: nothing interpolated one. */
    void checkNoSecretLeaked() {
        calls.each { call ->
            String text = String.valueOf(call.args) + String.valueOf(call.script)
            secrets.each { secret ->
                assert !text.contains(secret): "the secret ${secret} leaked into ${call.step}: ${text}"
            }
        }
        [currentBuild.description, currentBuild.result].each { value ->
            secrets.each { secret -> assert !String.valueOf(value).contains(secret) }
        }
    }

    // --- the steps ------------------------------------------------------------------------

    Map record(String step, Object args, Map extra = [:]) {
        Map call = [step: step, args: args, dir: directory(), env: new LinkedHashMap(env)] + extra
        calls << call
        return call
    }

    String directory() {
        List<String> parts = directories.findAll { part -> part != '.' }
        return parts ? parts.join('/') : '.'
    }

    private void installSteps() {
        binding.setVariable('env', env)
        binding.setVariable('currentBuild', currentBuild)
        binding.setVariable('params', params)
        binding.setVariable('scm', scm)
        ['sh', 'echo', 'error', 'withCredentials', 'usernamePassword', 'string',
         'gitUsernamePassword', 'withEnv', 'dir', 'junit', 'archiveArtifacts', 'readJSON',
         'fileExists', 'pwd', 'checkout', 'script', 'pipeline'].each { name ->
            binding.setVariable(name, this.&"step_${name}")
        }
    }

    Object step_sh(Object arg) {
        Map args = arg instanceof Map ? new LinkedHashMap(arg) : [script: arg]
        assert args.script != null: 'sh needs a script'
        Map call = record('sh', args, [script: args.script.toString(), gstring: args.script instanceof GString])
        Object outcome = onSh(call)
        if (args.returnStdout) {
            return outcome instanceof String ? outcome : ''
        }
        int status = outcome instanceof Integer ? (int) outcome : 0
        if (args.returnStatus) {
            return status
        }
        if (status != 0) {
            throw new PipelineError("script returned exit code ${status}")
        }
        return null
    }

    void step_echo(Object message) {
        record('echo', message.toString())
    }

    void step_error(Object message) {
        record('error', message.toString())
        throw new PipelineError(message.toString())
    }

    Map step_usernamePassword(Map args) {
        assert args.keySet() == ['credentialsId', 'usernameVariable', 'passwordVariable'] as Set
        return [binding: 'usernamePassword'] + args
    }

    Map step_string(Map args) {
        assert args.keySet() == ['credentialsId', 'variable'] as Set
        return [binding: 'string'] + args
    }

    Map step_gitUsernamePassword(Map args) {
        assert args.keySet() == ['credentialsId', 'gitToolName'] as Set
        return [binding: 'gitUsernamePassword'] + args
    }

    Object step_withCredentials(List bindings, Closure body) {
        record('withCredentials', bindings.collect { binding -> new LinkedHashMap(binding) })
        Map<String, String> bound = [:]
        bindings.each { Map binding ->
            assert binding.credentialsId: "a binding without credentialsId: ${binding}"
            String id = binding.credentialsId
            switch (binding.binding) {
                case 'usernamePassword':
                    bound[binding.usernameVariable] = "fake-user-of-${id}".toString()
                    bound[binding.passwordVariable] = "fake-password-of-${id}".toString()
                    break
                case 'string':
                    bound[binding.variable] = "fake-secret-text-of-${id}".toString()
                    break
                case 'gitUsernamePassword':
                    bound.GIT_USERNAME = "fake-git-user-of-${id}".toString()
                    bound.GIT_PASSWORD = "fake-git-password-of-${id}".toString()
                    break
                default:
                    throw new AssertionError("not a credential binding: ${binding}")
            }
        }
        secrets.addAll(bound.values())
        return within(bound, body)
    }

    Object step_withEnv(List variables, Closure body) {
        record('withEnv', variables*.toString())
        Map<String, String> values = [:]
        variables.each { variable ->
            List<String> parts = variable.toString().split('=', 2) as List
            assert parts.size() == 2: "withEnv wants NAME=VALUE, got ${variable}"
            String name = parts[0]
            if (name.contains('+')) {  // PATH+EXTRA=/x prepends to PATH
                name = name.split(/\+/)[0]
                values[name] = "${parts[1]}:${values[name] ?: env[name]}".toString()
            } else {
                values[name] = parts[1]
            }
        }
        return within(values, body)
    }

    private Object within(Map<String, String> values, Closure body) {
        Map<String, String> saved = new LinkedHashMap(env)
        env.putAll(values)
        try {
            return body()
        } finally {
            env.clear()
            env.putAll(saved)
        }
    }

    Object step_dir(String path, Closure body) {
        record('dir', path)
        directories << path
        try {
            return body()
        } finally {
            directories.remove(directories.size() - 1)
        }
    }

    void step_junit(Object arg) {
        record('junit', arg instanceof Map ? new LinkedHashMap(arg) : [testResults: arg])
    }

    void step_archiveArtifacts(Object arg) {
        record('archiveArtifacts', arg instanceof Map ? new LinkedHashMap(arg) : [artifacts: arg])
    }

    boolean step_fileExists(String path) {
        record('fileExists', path)
        return json != null
    }

    Object step_readJSON(Map args) {
        record('readJSON', new LinkedHashMap(args))
        assert json != null: "readJSON of a file that does not exist: ${args}"
        // Through JSON text, as the step reads it: only what JSON can hold survives.
        return new JsonSlurper().parseText(JsonOutput.toJson(json))
    }

    String step_pwd() {
        String here = directory()
        return here == '.' ? env.WORKSPACE : "${env.WORKSPACE}/${here}".toString()
    }

    Map step_checkout(Object scmSpec) {
        record('checkout', scmSpec)
        return [GIT_COMMIT: '0123456789abcdef0123456789abcdef01234567']
    }

    Object step_script(Closure body) {
        return body()
    }

    void step_pipeline(Closure body) {
        assert declarative == null: 'one pipeline {} per build'
        declarative = new Declarative(this)
        declarative.run(body)
    }
}
