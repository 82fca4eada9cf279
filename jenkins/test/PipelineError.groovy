/** What the harness's error step throws, as Jenkins' error throws an AbortException. */
class PipelineError extends RuntimeException {
    PipelineError(String message) {
        super(message)
    }
}
