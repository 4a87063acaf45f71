import { describe, expect, it } from 'vitest';

import { bridgeName, isAlive, netnsName, ownerPid, vethName } from '@/server/sandbox/netns/names';
import { NetnsPodNetwork } from '@/server/sandbox/netns/network';

describe('the netns mode', () => {
  it('names everything after the run’s pid, within the kernel’s 15-byte interface names', () => {
    const pid = 4_194_304; // the largest pid Linux hands out
    expect(netnsName(pid, 7)).toBe('beamscope-4194304-7');
    expect(bridgeName(pid).length).toBeLessThanOrEqual(15);
    expect(vethName(pid, 46_655).length).toBeLessThanOrEqual(15);
    for (const name of [netnsName(pid, 7), bridgeName(pid), vethName(pid, 46_655)]) {
      expect(ownerPid(name)).toBe(pid);
    }
  });

  it('claims no name it did not make', () => {
    for (const name of ['eth0', 'lo', 'docker0', 'beamscope', 'beamscope-x-1', 'bsv', 'br-1']) {
      expect(ownerPid(name)).toBeUndefined();
    }
  });

  it('tells a live run from a dead one', () => {
    expect(isAlive(process.pid)).toBe(true);
    expect(isAlive(2 ** 22 + 1)).toBe(false);
  });

  it('refuses to start without root, in one line, touching nothing', async () => {
    await expect(new NetnsPodNetwork(() => 1000).start()).rejects.toThrow(
      'the netns mode needs root (network namespaces, veth and routes)',
    );
  });

  it('has nodes listen on their pod IP and dial peers where their names say', () => {
    const network = new NetnsPodNetwork();
    expect(network.listenAddress('10.244.0.7')).toBe('10.244.0.7');
    expect(network.addressMap).toEqual([]);
    expect(network.gateway).toBe('10.244.0.1');
  });
});
