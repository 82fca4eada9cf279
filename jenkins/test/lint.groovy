// Runs CodeNarc (Debian's libcodenarc-groovy-java) over the library: vars/, examples/ and this
// harness, with the rules of jenkins/codenarc.groovy. Prints one line a violation and
// "N passed, N failed" over the files; exit status 1 when any rule is violated (any priority).
//
//   groovy -cp /usr/share/java/log4j-1.2.jar jenkins/test/lint.groovy jenkins
// (jenkins/test/lint.sh does that with JAVA_HOME set.)
import org.apache.log4j.Level
import org.apache.log4j.Logger
import org.codenarc.CodeNarcRunner
import org.codenarc.analyzer.FilesystemSourceAnalyzer
import org.codenarc.results.FileResults
import org.codenarc.results.Results

Logger.rootLogger.level = Level.ERROR
File root = new File(args ? args[0] : 'jenkins').canonicalFile
File rules = new File(root, 'codenarc.groovy')

FilesystemSourceAnalyzer analyzer = new FilesystemSourceAnalyzer(
    baseDirectory: root.path,
    includes: '**/vars/*.groovy,**/examples/Jenkinsfile*,**/test/*.groovy,**/test/**/*.groovy')
CodeNarcRunner runner = new CodeNarcRunner(sourceAnalyzer: analyzer,
                                           ruleSetFiles: 'file:' + rules.path, reportWriters: [])
Results results = runner.execute()

List<FileResults> files = []
Closure walk
walk = { Results node ->
    if (node instanceof FileResults) {
        files << node
    }
    node.children.each { child -> walk(child) }
}
walk(results)

files.sort { file -> file.path }.each { FileResults file ->
    file.violations.sort { violation -> violation.lineNumber ?: 0 }.each { violation ->
        println "${file.path}:${violation.lineNumber}: ${violation.rule.name} (P${violation.rule.priority})" +
            " ${violation.message ?: ''}: ${violation.sourceLine?.trim()}"
    }
}
int violations = files.sum { file -> file.violations.size() } ?: 0
int total = results.getTotalNumberOfFiles(true)
int dirty = files.count { file -> !file.violations.isEmpty() }
println "codenarc: ${total} files, ${violations} violations " +
    "(P1 ${results.getNumberOfViolationsWithPriority(1, true)}, " +
    "P2 ${results.getNumberOfViolationsWithPriority(2, true)}, " +
    "P3 ${results.getNumberOfViolationsWithPriority(3, true)})"
println "${total - dirty} passed, ${dirty} failed"
System.exit(total == 0 || violations ? 1 : 0)
