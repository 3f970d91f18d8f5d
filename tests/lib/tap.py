"""TAP output for the Python tests: numbered ok / not ok lines, SKIP and
diagnostics, the plan first or last, and an exit status."""
import sys


class Tap:
    """plan: print '1..plan' now; else done() prints the plan last."""
    def __init__(self, plan=None):
        self.n, self.failed, self.planned = 0, 0, plan is not None
        if self.planned:
            self.out('1..%d' % plan)

    @staticmethod
    def out(line):
        print(line)
        sys.stdout.flush()

    def ok(self, cond, desc, skip=None):
        """One test; a skipped one passes with '# SKIP skip'.  Returns cond."""
        self.n += 1
        if skip is not None:
            self.out('ok %d - %s # SKIP %s' % (self.n, desc, skip))
            return True
        self.out('%sok %d - %s' % ('' if cond else 'not ', self.n, desc))
        self.failed += not cond
        return bool(cond)

    def diag(self, text, indent='#   '):
        for line in str(text).split('\n'):
            self.out(indent + line)

    def done(self):
        """Prints the plan if not yet; returns the exit status (1: a failure)."""
        if not self.planned:
            self.out('1..%d' % self.n)
            self.planned = True
        return 1 if self.failed else 0
