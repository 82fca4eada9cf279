import org.codehaus.groovy.runtime.InvokerHelper

/**
 * The base class of the scripts the harness loads, as CpsScript is Jenkins': a method the
 * script lacks is a step or a global variable (pubkitRelease(...) calls its call method), and
 * a property it lacks is an environment variable (as Jenkins resolves BUILD_NUMBER).
 */
abstract class PipelineScript extends Script {

    @Override
    Object invokeMethod(String name, Object args) {
        try {
            return super.invokeMethod(name, args)
        } catch (MissingMethodException missing) {
            if (missing.method != name || missing.type != getClass() || !binding.hasVariable(name)) {
                throw missing
            }
            return InvokerHelper.invokeMethod(binding.getVariable(name), 'call', args)
        }
    }

    @Override
    Object getProperty(String name) {
        try {
            return super.getProperty(name)
        } catch (MissingPropertyException missing) {
            Map env = binding.hasVariable('env') ? (Map) binding.getVariable('env') : [:]
            if (env.containsKey(name)) {
                return env[name]
            }
            throw missing
        }
    }
}
