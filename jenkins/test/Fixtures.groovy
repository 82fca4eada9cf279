/**
 * pubkit-release.json documents as `pubkit release --json` writes them (the shape of
 * ReleaseResult.to_dict, and of the document written when a run stops before it starts).
 */
class Fixtures {

    static Map pkg(String name, String current, String version, String status, String reason) {
        return [name: name, current: current, version: version, status: status, reason: reason,
                steps: [], uploaded: [], already_there: [], tag: null, junit: null]
    }

    /** Exit 0: two packages released, two unchanged. */
    static Map released() {
        return [ok: true, exit_code: 0, dry_run: false, seconds: 41.2, commit: null,
                pushed: ['acme-core-v1.3.0', 'acme-text-v1.1.0'], warnings: [],
                packages: [
                    pkg('acme-core', '1.2.0', '1.3.0', 'released', '1.3.0 is not on the index yet'),
                    pkg('acme-text', '1.0.0', '1.1.0', 'released', 'depends on acme-core'),
                    pkg('acme-aws', '1.0.0', null, 'skipped', 'unchanged since acme-aws-v1.0.0'),
                    pkg('acme-kafka', '1.0.0', null, 'skipped', 'unchanged since acme-kafka-v1.0.0'),
                ]]
    }

    /** Exit 0 of a dry run: what would be released. */
    static Map planned() {
        return [ok: true, exit_code: 0, dry_run: true, seconds: 0.4, commit: null, pushed: [],
                warnings: [],
                packages: [
                    pkg('acme-core', '1.2.0', '1.3.0', 'planned', 'changed since acme-core-v1.2.0'),
                    pkg('acme-aws', '1.0.0', null, 'skipped', 'unchanged since acme-aws-v1.0.0'),
                ]]
    }

    /** Exit 0 with nothing to do. */
    static Map nothing() {
        return [ok: true, exit_code: 0, dry_run: false, seconds: 1.0, commit: null, pushed: [],
                warnings: [],
                packages: [pkg('acme-core', '1.2.0', null, 'skipped', 'acme-core 1.2.0 is released')]]
    }

    /** Exit 1: a step failed for one package, which blocked its dependent. */
    static Map failed() {
        return [ok: false, exit_code: 1, dry_run: false, seconds: 63.0, commit: null,
                pushed: ['acme-core-v1.3.0'], warnings: [],
                packages: [
                    pkg('acme-core', '1.2.0', '1.3.0', 'released', '1.3.0 is not on the index yet'),
                    pkg('acme-aws', '1.0.0', '1.0.1', 'failed', 'test: 2 failed, 31 passed'),
                    pkg('acme-kafka', '1.0.0', '1.1.0', 'blocked', 'acme-aws failed'),
                    pkg('acme-text', '1.0.0', null, 'skipped', 'unchanged since acme-text-v1.0.0'),
                ]]
    }

    /** Exit 2: a usage or configuration error stopped the run before it started. */
    static Map configError() {
        return [ok: false, exit_code: 2, packages: [],
                error: 'HEAD is detached, so pubkit cannot tell which branch to push its release ' +
                       'commit to; check out the branch (git checkout -B BRANCH), or pass --no-commit']
    }

    /** Exit 1 without a package to blame: the index could not be reached. */
    static Map unreachable() {
        return [ok: false, exit_code: 1, packages: [],
                error: 'could not reach the index at https://pypi.acme.example/simple/acme-aws/: ' +
                       'ConnectionError; check the URL and the network, then re-run']
    }
}
