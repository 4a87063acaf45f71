import { describe, expect, it } from 'vitest';

import {
  assertPodIp,
  erlArgs,
  nodeName,
  SMALL_FOOTPRINT_FLAGS,
  type ErlArgsInput,
  type ErlArgsOptions,
} from '@/server/sandbox/beam/erl-args';
import type { BeamPodRuntimeOptions } from '@/server/sandbox/beam/types';

const API = { url: 'http://127.0.0.1:6443', token: 'pod-token' };

const args = (options: ErlArgsOptions = {}, input: Partial<ErlArgsInput> = {}) =>
  erlArgs({
    options,
    ip: '10.244.0.2',
    listenIp: '127.0.0.2',
    addressMap: [{ from: '10.244.0.0/16', to: '127.0.0.0/16' }],
    ebin: '/cache/ebin-1',
    tokenFile: '/run/token',
    api: API,
    ...input,
  });

/** The demo app's environment, from the `-myapp key value` triples. */
const appEnv = (argv: string[]) =>
  Object.fromEntries(
    argv.flatMap((arg, at) => (arg === '-myapp' ? [[argv[at + 1], argv[at + 2]]] : [])),
  ) as Record<string, string>;

/** The values that follow `flag` (`-kernel` appears more than once). */
const after = (argv: string[], flag: string, count = 1) =>
  argv.flatMap((arg, at) => (arg === flag ? [argv.slice(at + 1, at + 1 + count)] : []));

describe('erlArgs', () => {
  it('starts an epmd-less node named by its pod IP on its listen address, in this order', () => {
    expect(args()).toEqual([
      '-noinput',
      '-name',
      'myapp@10.244.0.2',
      '-pa',
      '/cache/ebin-1',
      ...SMALL_FOOTPRINT_FLAGS,
      '+P',
      '32768',
      '-kernel',
      'inet_dist_use_interface',
      '{127,0,0,2}',
      '-epmd_module',
      'myapp_epmd',
      '-start_epmd',
      'false',
      '-erl_epmd_port',
      '9100',
      '-kernel',
      'inet_dist_listen_min',
      '9100',
      'inet_dist_listen_max',
      '9100',
      ...['-myapp', 'api_url', '"http://127.0.0.1:6443"'],
      ...['-myapp', 'token_file', '"/run/token"'],
      ...['-myapp', 'ca_file', '""'],
      ...['-myapp', 'namespace', '"default"'],
      ...['-myapp', 'service', '"myapp"'],
      ...['-myapp', 'discovery', 'endpointslices'],
      ...['-myapp', 'basename', '"myapp"'],
      ...['-myapp', 'node_naming', 'ip'],
      ...['-myapp', 'poll_interval_ms', '1000'],
      ...['-myapp', 'devices', '10000'],
      ...['-myapp', 'tenants', '10'],
      ...['-myapp', 'global_every', '100'],
      ...['-myapp', 'address_map', '[{{{10,244,0,0},16},{127,0,0,0}}]'],
      '-eval',
      'myapp_control:boot()',
    ]);
  });

  it('puts a release overlay after the base build: `-pa A B` makes B first on the code path', () => {
    const argv = args({}, { overlayEbin: '/cache/releases/ebin-2' });
    expect(argv.slice(argv.indexOf('-pa'), argv.indexOf('-pa') + 3)).toEqual([
      '-pa',
      '/cache/ebin-1',
      '/cache/releases/ebin-2',
    ]);
    expect(args({}, { overlayEbin: null })).toEqual(args());
  });

  it('keeps the small-footprint flags, including +Bi so that a Ctrl-C cannot reach stdin', () => {
    expect(SMALL_FOOTPRINT_FLAGS).toContain('+Bi');
    const argv = args();
    const at = argv.indexOf(SMALL_FOOTPRINT_FLAGS[0]);
    expect(argv.slice(at, at + SMALL_FOOTPRINT_FLAGS.length)).toEqual([...SMALL_FOOTPRINT_FLAGS]);
  });

  it('never carries the cookie: the node reads it from its HOME', () => {
    const options: BeamPodRuntimeOptions = { cookie: 'SECRETCOOKIEVALUE', basename: 'app' };
    const argv = args(options);
    expect(argv.join(' ')).not.toContain('SECRETCOOKIEVALUE');
    expect(argv).not.toContain('-setcookie');
    expect(argv).not.toContain('-hidden');
  });

  it('names the node basename@IP, and basename-A-B-C-D@IP when one EPMD serves every node', () => {
    expect(after(args({ basename: 'shop' }), '-name')).toEqual([['shop@10.244.0.2']]);
    expect(appEnv(args({ basename: 'shop' })).basename).toBe('"shop"');
    expect(after(args({ basename: 'shop', distribution: 'epmd' }), '-name')).toEqual([
      ['shop-10-244-0-2@10.244.0.2'],
    ]);
  });

  it('epmdless (the default) pins every node to the one distribution port, without EPMD', () => {
    for (const argv of [
      args({ distPort: 9200 }),
      args({ distribution: 'epmdless', distPort: 9200 }),
    ]) {
      expect(after(argv, '-start_epmd')).toEqual([['false']]);
      expect(after(argv, '-erl_epmd_port')).toEqual([['9200']]);
      expect(after(argv, '-kernel', 4)).toContainEqual([
        'inet_dist_listen_min',
        '9200',
        'inet_dist_listen_max',
        '9200',
      ]);
      expect(appEnv(argv).node_naming).toBe('ip');
    }
  });

  it('epmd mode leaves EPMD and ephemeral ports alone and tells the app the suffixed naming', () => {
    const argv = args({ distribution: 'epmd', distPort: 9200 });
    expect(argv).not.toContain('-start_epmd');
    expect(argv).not.toContain('-erl_epmd_port');
    expect(argv).not.toContain('inet_dist_listen_min');
    expect(argv.join(' ')).not.toContain('9200');
    expect(after(argv, '-kernel', 2)).toEqual([['inet_dist_use_interface', '{127,0,0,2}']]);
    expect(appEnv(argv).node_naming).toBe('ip_suffixed');
  });

  it('binds distribution to the listen address only, and hands the app the address map', () => {
    const argv = args({}, { ip: '10.244.22.233', listenIp: '127.0.22.233' });
    expect(after(argv, '-kernel', 2)[0]).toEqual(['inet_dist_use_interface', '{127,0,22,233}']);
    expect(after(argv, '-name')).toEqual([['myapp@10.244.22.233']]);
    // netns mode: the node owns its pod IP and dials its peers at theirs.
    const owned = args({}, { ip: '10.244.0.7', listenIp: '10.244.0.7', addressMap: [] });
    expect(after(owned, '-kernel', 2)[0]).toEqual(['inet_dist_use_interface', '{10,244,0,7}']);
    expect(appEnv(owned).address_map).toBe('[]');
  });

  it('sizes the process table for the devices, never under 32,768 slots', () => {
    expect(after(args({ devices: 0 }), '+P')).toEqual([['32768']]);
    expect(after(args({ devices: 14_336 }), '+P')).toEqual([['32768']]);
    expect(after(args({ devices: 14_337 }), '+P')).toEqual([['32770']]);
    expect(after(args({ devices: 100_000 }), '+P')).toEqual([['204096']]);
    expect(appEnv(args({ devices: 100_000 })).devices).toBe('100000');
  });

  it('hands the app where the API is, as Erlang strings', () => {
    const env = appEnv(
      args(
        {},
        {
          api: { url: 'https://h\\"q', token: 'not-on-argv', namespace: 'shop', caFile: '/ca.pem' },
          tokenFile: '/run/dir "x"/token',
        },
      ),
    );
    expect(env.api_url).toBe('"https://h\\\\\\"q"');
    expect(env.token_file).toBe('"/run/dir \\"x\\"/token"');
    expect(env.ca_file).toBe('"/ca.pem"');
    expect(env.namespace).toBe('"shop"');
    expect(args().join(' ')).not.toContain('pod-token');
  });

  it('passes the service, the discovery API, the poll interval, tenants and :global spacing', () => {
    const env = appEnv(
      args({
        service: 'svc',
        discovery: 'endpoints',
        pollIntervalMs: 250,
        tenants: 3,
        globalEvery: 0,
      }),
    );
    expect(env).toMatchObject({
      service: '"svc"',
      discovery: 'endpoints',
      poll_interval_ms: '250',
      tenants: '3',
      global_every: '0',
    });
    expect(appEnv(args({ discovery: 'endpointSlices' })).discovery).toBe('endpointslices');
  });

  it('appends extra arguments after the app environment, before the boot', () => {
    const argv = args({ extraArgs: ['+hms', '100', '-kernel', 'net_ticktime', '10'] });
    expect(argv.slice(-7)).toEqual([
      '+hms',
      '100',
      '-kernel',
      'net_ticktime',
      '10',
      '-eval',
      'myapp_control:boot()',
    ]);
    expect(argv.lastIndexOf('-myapp')).toBeLessThan(argv.indexOf('+hms'));
  });

  it('refuses an IP outside the pod network: no node is ever given one', () => {
    for (const ip of ['127.0.0.2', '10.0.0.1', '10.244.0', '10.244.0.1.1', '10.244.0.x', '']) {
      expect(() => args({}, { ip })).toThrow(
        expect.objectContaining({ code: 'pod_ip_outside_pod_network' }),
      );
      expect(() => assertPodIp(ip)).toThrow(
        `pod IP "${ip}" is not in the sandbox's pod network 10.244.0.0/16`,
      );
    }
    expect(() => assertPodIp('10.244.255.1')).not.toThrow();
  });
});

describe('nodeName', () => {
  it('defaults the basename to myapp', () => {
    expect(nodeName({}, '10.244.0.9')).toBe('myapp@10.244.0.9');
    expect(nodeName({ distribution: 'epmd' }, '10.244.0.9')).toBe('myapp-10-244-0-9@10.244.0.9');
  });
});
