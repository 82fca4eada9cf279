// CodeNarc rules for the Jenkins library, run by jenkins/test/lint.sh with Debian's CodeNarc
// 0.23 (the CodeNarc of Groovy 2.4, the Groovy that Jenkins runs pipelines with). Every
// ruleset that applies to pipeline code, with the few changes below and the reason for each.
// The harness's own support code (jenkins/test/*.groovy: the runners, the stubs of Jenkins)
// is a command-line program, not pipeline code: it may print, exit, read files and check
// types. In vars/ and examples/ these rules stay: println instead of echo, java.io.File (the
// controller's disk, not the agent's) and System.exit (the controller's JVM) are pipeline bugs.
String harness = /.*\/test\/[^\/]+\.groovy/
// The tests read the library's files.
String tests = /.*\/test\/.*/

ruleset {
    ruleset('rulesets/basic.xml')
    ruleset('rulesets/braces.xml')
    ruleset('rulesets/concurrency.xml')
    ruleset('rulesets/convention.xml')
    ruleset('rulesets/design.xml') {
        Instanceof {
            doNotApplyToFilesMatching = harness
        }
        // The harness's base class of pipeline scripts leaves run() to each script.
        AbstractClassWithoutAbstractMethod {
            doNotApplyToFilesMatching = harness
        }
    }
    ruleset('rulesets/exceptions.xml') {
        CatchThrowable {
            doNotApplyToFilesMatching = harness
        }
    }
    ruleset('rulesets/formatting.xml') {
        // 0.23's default wants no space after the colon of a map entry (credentialsId:'x'),
        // the opposite of Groovy's and Jenkins' style, and of later CodeNarc releases.
        SpaceAroundMapEntryColon {
            characterAfterColonRegex = /\s/
        }
    }
    ruleset('rulesets/generic.xml')
    ruleset('rulesets/groovyism.xml')
    ruleset('rulesets/imports.xml')
    ruleset('rulesets/logging.xml') {
        Println {
            doNotApplyToFilesMatching = harness
        }
    }
    ruleset('rulesets/naming.xml') {
        // `@Library('pubkit') _` declares the placeholder variable `_`.
        VariableName {
            ignoreVariableNames = '_'
        }
    }
    ruleset('rulesets/security.xml') {
        JavaIoPackageAccess {
            doNotApplyToFilesMatching = tests
        }
        SystemExit {
            doNotApplyToFilesMatching = harness
        }
    }
    ruleset('rulesets/serialization.xml')
    ruleset('rulesets/size.xml') {
        // A declarative stage's steps start four blocks deep (pipeline, stages, stage, steps)
        // and a step that binds credentials or a directory adds one each.
        NestedBlockDepth {
            maxNestedBlockDepth = 7
        }
        // Each test file of the harness is one script of test('...') { } blocks, which
        // CodeNarc scores as a single method.
        AbcMetric {
            doNotApplyToFileNames = '*Test.groovy'
        }
        MethodSize {
            doNotApplyToFileNames = '*Test.groovy'
        }
        // The harness stands in for every step the library and its examples call.
        MethodCount {
            doNotApplyToFilesMatching = harness
        }
    }
    ruleset('rulesets/unnecessary.xml') {
        // Explicit returns, as in the Java that Jenkins administrators read.
        exclude 'UnnecessaryReturnKeyword'
    }
    ruleset('rulesets/unused.xml') {
        // 0.23 takes a script's @Field variables for unused locals; `_` is @Library's.
        UnusedVariable {
            ignoreVariableNames = '_,DEFAULTS,PIPELINE_DEFAULTS,RESULT_FILE,JUNIT_FILE,' +
                                  'INSTALL_SCRIPT,BRANCH_SCRIPT,TEST_SCRIPT'
        }
    }
    // Not rulesets/dry.xml: a pipeline names its credential ids, branches and separators
    // where they are used, and the tests spell out the expected values in full.
}
