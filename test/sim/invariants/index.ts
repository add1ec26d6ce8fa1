import { CommitMonotonicity } from './commit-monotonicity.ts';
import { ElectionSafety } from './election-safety.ts';
import { LeaderAppendOnly } from './leader-append-only.ts';
import { LeaderCompleteness } from './leader-completeness.ts';
import { LogMatching } from './log-matching.ts';
import { MetadataConsistency } from './metadata.ts';
import { ReadFreshness } from './read-freshness.ts';
import { StateMachineSafety } from './state-machine-safety.ts';
import type { Checker } from './types.ts';

export { Violation } from './types.ts';
export type { AckedWrite, Checker, HostInfo, ReadyInfo, ServedRead, World } from './types.ts';

/** The full set of checkers for one run. The log-matching one doubles as the prefix registry of log views. */
export function makeCheckers(): { all: Checker[]; logMatching: LogMatching } {
  const logMatching = new LogMatching();
  const all: Checker[] = [
    new ElectionSafety(),
    new LeaderAppendOnly(),
    logMatching,
    new LeaderCompleteness(),
    new StateMachineSafety(),
    new CommitMonotonicity(),
    new ReadFreshness(),
    new MetadataConsistency(),
  ];
  return { all, logMatching };
}
