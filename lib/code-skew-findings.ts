/**
 * The doctor's and the dashboard's words on code skew: one finding per skewed module and
 * application (the first few), then one saying how many more differ. Pure.
 */
import type { ClusterState } from './cluster-state';
import { applicationSkewLine, moduleSkewLine } from './code-skew';
import type { Finding } from './diagnosis';

/** Findings name this many modules (and applications) one by one; the rest are counted. */
const NAMED_SKEWS = 5;

const FIX =
  'a deploy in progress, or one that stopped half way: nodes on different code can fail with badfun and protocol errors';

/** What differs between the nodes' code, as findings (none when the code is the same). */
export function codeSkewFindings(state: Pick<ClusterState, 'codeSkew'>): Finding[] {
  const skew = state.codeSkew;
  if (!skew) return [];
  const findings: Finding[] = [];
  const warn = (code: Finding['code'], reason: string): Finding => ({
    subject: 'code',
    verdict: 'warn',
    code,
    reason,
  });
  for (const entry of skew.modules.slice(0, NAMED_SKEWS))
    findings.push(warn('code_skew', moduleSkewLine(entry)));
  if (skew.moduleCount > NAMED_SKEWS)
    findings.push(warn('code_skew', `${skew.moduleCount - NAMED_SKEWS} more modules differ`));
  for (const application of skew.applications.slice(0, NAMED_SKEWS))
    findings.push(warn('application_skew', applicationSkewLine(application)));
  if (skew.applicationCount > NAMED_SKEWS) {
    findings.push(
      warn('application_skew', `${skew.applicationCount - NAMED_SKEWS} more applications differ`),
    );
  }
  findings.push(warn('code_skew', `${skew.scannedNodes} nodes compared: ${FIX}`));
  return findings;
}
