// Prints the closing line CI reads: `jest: N passed, N failed, N skipped`. A suite that could not run
// (a compile error, a throwing top level, a failing afterAll) counts as failed, so a broken run never reads "0 failed".
class SummaryReporter {
  constructor(_globalConfig, _options) {}

  static summarize(results) {
    const broken = (results.testResults || [])
      .filter((r) => (r.testExecError || r.failureMessage) && r.numFailingTests === 0).length;
    // A run-level error (e.g. a throwing globalSetup that still reaches the reporters) is a failure too.
    const runError = results.runExecError && broken === 0 && results.numFailedTests === 0 ? 1 : 0;
    const failed = results.numFailedTests + Math.max(broken, results.numRuntimeErrorTestSuites || 0) + runError;
    const skipped = (results.numPendingTests || 0) + (results.numTodoTests || 0);
    return `jest: ${results.numPassedTests} passed, ${failed} failed, ${skipped} skipped`;
  }

  onRunComplete(_contexts, results) {
    process.stdout.write(`\n${SummaryReporter.summarize(results)}\n`);
  }
}
module.exports = SummaryReporter;
