/**
 * A small interpreter of the declarative `pipeline {}` syntax that the library and its
 * examples use: agent, options, parameters, environment, stages with when, steps and post,
 * and the pipeline's own post. It runs the stages as Jenkins would: a stage whose when
 * conditions fail is skipped, a failed stage skips the ones after it and marks the build
 * FAILURE, post always runs. Anything else it does not know fails the test, loudly.
 */
class Declarative {

    final Harness harness
    PipelineSection definition
    /** One entry a stage: [name: , status: 'SUCCESS' | 'FAILURE' | 'skipped: when' | ...]. */
    final List<Map> stages = []

    Declarative(Harness harness) {
        this.harness = harness
    }

    static Object collect(Closure body, Object section) {
        Closure copy = (Closure) body.clone()
        copy.delegate = section
        copy.resolveStrategy = Closure.DELEGATE_FIRST
        copy.call()
        return section
    }

    void run(Closure body) {
        definition = (PipelineSection) collect(body, new PipelineSection())
        assert definition.agentSpec != null: 'a pipeline needs an agent'
        harness.record('pipeline', [agent: definition.agentSpec, options: definition.optionCalls,
                                    parameters: definition.parameterCalls,
                                    environment: definition.environmentValues])
        Map<String, String> saved = new LinkedHashMap(harness.env)
        harness.env.putAll(definition.environmentValues)
        Throwable failure = null
        try {
            if (definition.agentSpec != 'none' && !definition.optionCalls*.name.contains('skipDefaultCheckout')) {
                harness.record('checkout', 'scm (the default checkout)')
            }
            for (StageSection stage in definition.stageList) {
                if (failure != null) {
                    stages << [name: stage.stageName, status: 'skipped: an earlier stage failed']
                } else if (stage.whenSection != null && !stage.whenSection.passes(harness)) {
                    stages << [name: stage.stageName, status: 'skipped: when']
                } else {
                    failure = runStage(stage)
                }
            }
        } finally {
            runPost(definition.postSection, failure == null ? 'SUCCESS' : 'FAILURE')
            harness.env.clear()
            harness.env.putAll(saved)
        }
        if (failure != null) {
            throw failure
        }
    }

    private Throwable runStage(StageSection stage) {
        harness.record('stage', stage.stageName)
        assert stage.stepsBody != null: "stage ${stage.stageName} has no steps"
        try {
            stage.stepsBody.call()
        } catch (PipelineError error) {
            harness.currentBuild.result = 'FAILURE'
            stages << [name: stage.stageName, status: 'FAILURE']
            runPost(stage.postSection, 'FAILURE')
            return error
        }
        stages << [name: stage.stageName, status: 'SUCCESS']
        runPost(stage.postSection, 'SUCCESS')
        return null
    }

    private void runPost(PostSection post, String outcome) {
        if (post == null) {
            return
        }
        post.conditions.always?.call()
        post.conditions[outcome == 'SUCCESS' ? 'success' : 'failure']?.call()
    }

    /** The names of the stages that ran (their steps started), in order. */
    List<String> ran() {
        return stages.findAll { stage -> !stage.status.startsWith('skipped') }*.name
    }

    String status(String name) {
        Map found = stages.find { stage -> stage.name == name }
        assert found != null: "no stage ${name}: ${stages}"
        return found.status
    }
}

class PipelineSection {
    Object agentSpec
    List<Map> optionCalls = []
    List<Map> parameterCalls = []
    Map<String, String> environmentValues = [:]
    List<StageSection> stageList = []
    PostSection postSection

    // `agent any` and `agent none` read these.
    final String any = 'any'
    final String none = 'none'

    void agent(Object spec) {
        agentSpec = spec instanceof Closure ? ((AgentSection) Declarative.collect(spec, new AgentSection())).spec : spec
    }

    void options(Closure body) {
        optionCalls = ((CallCollector) Declarative.collect(body, new CallCollector())).calls
    }

    void parameters(Closure body) {
        parameterCalls = ((CallCollector) Declarative.collect(body, new CallCollector())).calls
    }

    void environment(Closure body) {
        environmentValues = ((EnvironmentSection) Declarative.collect(body, new EnvironmentSection())).values
    }

    void stages(Closure body) {
        stageList = ((StagesSection) Declarative.collect(body, new StagesSection())).stageList
    }

    void post(Closure body) {
        postSection = (PostSection) Declarative.collect(body, new PostSection())
    }
}

class AgentSection {
    Map spec

    void label(Object name) {
        spec = [label: name == null ? null : name.toString()]
    }
}

/** options {} and parameters {}: every call, with its arguments. */
class CallCollector {
    List<Map> calls = []

    Object methodMissing(String name, Object args) {
        Map call = [name: name, args: (args as List)]
        calls << call
        return call
    }
}

class EnvironmentSection {
    Map<String, String> values = [:]

    void propertyMissing(String name, Object value) {
        values[name] = value.toString()
    }
}

class StagesSection {
    List<StageSection> stageList = []

    void stage(String name, Closure body) {
        StageSection section = new StageSection(stageName: name)
        stageList << (StageSection) Declarative.collect(body, section)
    }
}

class StageSection {
    String stageName
    WhenSection whenSection
    Closure stepsBody
    PostSection postSection

    void when(Closure body) {
        whenSection = (WhenSection) Declarative.collect(body, new WhenSection())
    }

    void steps(Closure body) {
        stepsBody = body
    }

    void post(Closure body) {
        postSection = (PostSection) Declarative.collect(body, new PostSection())
    }
}

/** when {}: every condition must hold (Declarative's implicit allOf). */
class WhenSection {
    List<Closure> conditions = []

    boolean passes(Harness harness) {
        return conditions.every { condition -> condition.call(harness) }
    }

    void branch(String pattern) {
        String regex = pattern.replace('.', '\\.').replace('**', '\u0000').replace('*', '[^/]*')
            .replace('\u0000', '.*').replace('?', '.')
        conditions << { Harness harness -> (harness.env.BRANCH_NAME ?: '') ==~ regex }
    }

    void changeRequest(Map options = [:]) {
        assert options.isEmpty(): "changeRequest(${options}) is not supported by the harness"
        conditions << { Harness harness -> harness.env.CHANGE_ID != null }
    }

    void expression(Closure body) {
        conditions << { Harness harness -> body.call() as boolean }
    }

    void not(Closure body) {
        WhenSection inner = (WhenSection) Declarative.collect(body, new WhenSection())
        conditions << { Harness harness -> !inner.passes(harness) }
    }

    void allOf(Closure body) {
        WhenSection inner = (WhenSection) Declarative.collect(body, new WhenSection())
        conditions << { Harness harness -> inner.passes(harness) }
    }

    void anyOf(Closure body) {
        WhenSection inner = (WhenSection) Declarative.collect(body, new WhenSection())
        conditions << { Harness harness -> inner.conditions.any { condition -> condition.call(harness) } }
    }
}

class PostSection {
    Map<String, Closure> conditions = [:]

    void always(Closure body) {
        conditions.always = body
    }

    void success(Closure body) {
        conditions.success = body
    }

    void failure(Closure body) {
        conditions.failure = body
    }
}
