import org.codehaus.groovy.ast.ClassCodeVisitorSupport
import org.codehaus.groovy.ast.ClassNode
import org.codehaus.groovy.ast.ModuleNode
import org.codehaus.groovy.ast.expr.ConstantExpression
import org.codehaus.groovy.ast.expr.GStringExpression
import org.codehaus.groovy.ast.expr.MapEntryExpression
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases
import org.codehaus.groovy.control.SourceUnit

/**
 * Reads a pipeline script's syntax tree and reports every double-quoted (GString) literal that
 * names a secret: the index credentials pubkit reads (PUBKIT_INDEX_USERNAME, _PASSWORD,
 * _TOKEN) and every variable the file binds with withCredentials (variable:,
 * usernameVariable:, passwordVariable:, ...). Groovy would interpolate such a string itself,
 * putting the secret into the script text, the process list and the build log; single quotes
 * leave it to the shell.
 */
class SecretScan {

    static final Set<String> ALWAYS = ['PUBKIT_INDEX_USERNAME', 'PUBKIT_INDEX_PASSWORD',
                                       'PUBKIT_INDEX_TOKEN'] as Set
    static final Set<String> BINDING_KEYS = ['variable', 'usernameVariable', 'passwordVariable',
                                             'keyFileVariable', 'passphraseVariable'] as Set

    /** Problems as "name:line: text"; none when the script keeps its secrets out of GStrings. */
    static List<String> scan(String name, String text) {
        CompilationUnit unit = new CompilationUnit()
        unit.addSource(name, text)
        unit.compile(Phases.CONVERSION)
        List<ModuleNode> modules = unit.AST.modules
        Set<String> secrets = new TreeSet<String>(ALWAYS)
        List<GStringExpression> gstrings = []
        modules.each { ModuleNode module ->
            module.classes.each { ClassNode node ->
                Visitor visitor = new Visitor()
                visitor.visitClass(node)
                secrets.addAll(visitor.bound)
                gstrings.addAll(visitor.gstrings)
            }
        }
        List<String> problems = []
        gstrings.unique { expression -> [expression.lineNumber, expression.columnNumber] }.each { expression ->
            String source = expression.text + ' ' + expression.values*.text.join(' ')
            List<String> named = secrets.findAll { secret -> source.contains(secret) } as List<String>
            if (named) {
                problems << "${name}:${expression.lineNumber}: a double-quoted string names the secret " +
                    "${named.join(', ')}: ${expression.text}".toString()
            }
        }
        return problems
    }

    static List<String> scanFile(File file) {
        return scan(file.name, file.text)
    }

    private static class Visitor extends ClassCodeVisitorSupport {
        final List<GStringExpression> gstrings = []
        final Set<String> bound = [] as Set

        @Override
        protected SourceUnit getSourceUnit() {
            return null
        }

        @Override
        void visitGStringExpression(GStringExpression expression) {
            gstrings << expression
            super.visitGStringExpression(expression)
        }

        @Override
        void visitMapEntryExpression(MapEntryExpression entry) {
            if (entry.keyExpression instanceof ConstantExpression &&
                    entry.keyExpression.value in BINDING_KEYS &&
                    entry.valueExpression instanceof ConstantExpression) {
                bound << entry.valueExpression.value.toString()
            }
            super.visitMapEntryExpression(entry)
        }
    }
}
