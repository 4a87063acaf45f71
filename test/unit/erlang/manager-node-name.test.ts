import { describe, expect, it } from 'vitest';

import { localNodeName } from '@/server/collector';
import { ConnectionManager } from '@/server/erlang/manager';
import {
  commandLineNodeName,
  defaultLocalNodeName,
  localNodeHost,
  parseNodeName,
  swarmIgnoresNode,
} from '@/server/erlang/node-name';
import { BeamscopeError } from '@/server/errors';

describe('node names', () => {
  it('splits alive@host', () => {
    expect(parseNodeName('myapp@10.0.0.7')).toEqual({
      alive: 'myapp',
      host: '10.0.0.7',
      full: 'myapp@10.0.0.7',
    });
    expect(parseNodeName('my-app_1@pod.svc.cluster.local').host).toBe('pod.svc.cluster.local');
  });

  it('rejects malformed names with invalid_node_name', () => {
    for (const bad of [
      '',
      'noat',
      '@host',
      'name@',
      'a b@host',
      'a@b@c',
      'a@host name',
      "a'b@host",
    ]) {
      let error: unknown;
      try {
        parseNodeName(bad);
      } catch (caught) {
        error = caught;
      }
      expect(error, bad).toBeInstanceOf(BeamscopeError);
      expect((error as BeamscopeError).code).toBe('invalid_node_name');
    }
  });

  it('names the server and the command line apart, the same on every run on a host', () => {
    expect(defaultLocalNodeName('server', '10.1.2.3')).toBe('beamscope_maint_server@10.1.2.3');
    expect(defaultLocalNodeName('cli', '10.1.2.3')).toBe('beamscope_maint_cli@10.1.2.3');
    expect(defaultLocalNodeName('cli')).toBe(defaultLocalNodeName('cli'));
    expect(new ConnectionManager({ cookie: 'c' }).localName).toBe(defaultLocalNodeName('server'));
  });

  it("matches Swarm's built-in ignore list exactly where Swarm's does", () => {
    for (const ignored of [
      defaultLocalNodeName('server', '10.1.2.3'),
      defaultLocalNodeName('cli', 'host.example'),
      'remsh123@10.0.0.1',
      'remsh@h',
      'app_upgrader_1@h',
      'x_maint_@h',
    ]) {
      expect(swarmIgnoresNode(ignored), ignored).toBe(true);
    }
    for (const kept of [
      'beamscope@10.0.0.1',
      'beamscope_a1b2c3@10.0.0.1',
      '_maint_@h',
      'my_remsh@h',
      'app_upgrader@h',
      'maint_x@h',
    ]) {
      expect(swarmIgnoresNode(kept), kept).toBe(false);
    }
  });

  it('gives the command line its own name beside a configured server name', () => {
    expect(commandLineNodeName('beamscope_maint_ops@myhost')).toBe(
      'beamscope_maint_ops_cli@myhost',
    );
    const configured = { node: { name: 'beamscope_maint_ops@10.0.0.9' } };
    expect(localNodeName(configured, 'server')).toBe('beamscope_maint_ops@10.0.0.9');
    expect(localNodeName(configured, 'cli')).toBe('beamscope_maint_ops_cli@10.0.0.9');
    expect(swarmIgnoresNode(localNodeName(configured, 'cli'))).toBe(true);
    expect(localNodeName({}, 'cli')).toBe(defaultLocalNodeName('cli'));
    expect(localNodeName({})).toBe(defaultLocalNodeName('server'));
  });

  it('prefers the first external IPv4 address for the host', () => {
    expect(
      localNodeHost({
        lo: [
          {
            address: '127.0.0.1',
            family: 'IPv4',
            internal: true,
            netmask: '',
            mac: '',
            cidr: null,
          },
        ],
        eth0: [
          {
            address: 'fe80::1',
            family: 'IPv6',
            internal: false,
            netmask: '',
            mac: '',
            cidr: null,
            scopeid: 0,
          },
          {
            address: '10.244.0.5',
            family: 'IPv4',
            internal: false,
            netmask: '',
            mac: '',
            cidr: null,
          },
        ],
      }),
    ).toBe('10.244.0.5');
  });
});
