import 'server-only';

// What the netns mode names its kernel objects: every name carries the creating process's pid, so
// a later run can tell a dead run's leftovers (remove them) from a live run's (leave them), and
// nothing it did not create ever matches. Interface names stay within the kernel's 15 bytes.

/** Network namespaces: `beamscope-<pid>-<n>`. */
export const NETNS_PREFIX = 'beamscope-';
/** The bridge: `bsbr<pid base 36>` (at most 9 bytes). */
export const BRIDGE_PREFIX = 'bsbr';
/** A pod's veth, host side: `bsv<pid base 36>-<n base 36>` (at most 15 bytes up to n = 46655). */
export const VETH_PREFIX = 'bsv';

export const netnsName = (pid: number, index: number) => `${NETNS_PREFIX}${pid}-${index}`;
export const bridgeName = (pid: number) => `${BRIDGE_PREFIX}${pid.toString(36)}`;
export const vethName = (pid: number, index: number) =>
  `${VETH_PREFIX}${pid.toString(36)}-${index.toString(36)}`;

/** The pid a name of ours carries, or undefined for a name that is not ours. */
export function ownerPid(name: string): number | undefined {
  const netns = new RegExp(`^${NETNS_PREFIX}(\\d+)-\\d+$`).exec(name);
  if (netns) return Number(netns[1]);
  const link = new RegExp(
    `^(?:${BRIDGE_PREFIX}([0-9a-z]+)|${VETH_PREFIX}([0-9a-z]+)-[0-9a-z]+)$`,
  ).exec(name);
  const encoded = link?.[1] ?? link?.[2];
  return encoded === undefined ? undefined : parseInt(encoded, 36);
}

/** Whether the process `pid` still runs (a run whose objects must be left alone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
