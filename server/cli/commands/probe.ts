import 'server-only';

import { readFile } from 'node:fs/promises';

import { checkMapping, mapAddress, type AddressMapping } from '../../erlang/address-map';
import { BeamscopeError } from '../../errors';
import { formatPid, formatPort, Port } from '../../erlang/codec';
import { connectNode, defaultLocalNodeName, parseNodeName, swarmIgnoresNode } from '../../erlang';
import { runProbes, type Detection, type NodeProbeReport } from '../../erlang/probes';
import { integerOption, parseCommandArgs } from '../args';
import { UsageError, type Command, type CommandIo } from '../command';

const USAGE =
  'beamscope probe NODE (--cookie-file FILE | --cookie-env VAR) [--port PORT | --epmd-port PORT] ' +
  '[--tls-ca FILE --tls-cert FILE --tls-key FILE] [--address-map NET=NET]... [--timeout MS] [--name LOCALNAME] ' +
  '[--registry NAME]... [--horde NAME]... [--horde-supervisor NAME]... [--syn-scope SCOPE]... ' +
  '[--json]';

const OPTIONS = {
  'cookie-file': { type: 'string' },
  'cookie-env': { type: 'string' },
  port: { type: 'string' },
  'epmd-port': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'address-map': { type: 'string', multiple: true },
  timeout: { type: 'string' },
  name: { type: 'string' },
  registry: { type: 'string', multiple: true },
  horde: { type: 'string', multiple: true },
  'horde-supervisor': { type: 'string', multiple: true },
  'syn-scope': { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const;

const DEFAULT_TIMEOUT_MS = 5000;

/**
 * Reads the cookie from a file (trailing newline trimmed, as `.erlang.cookie` files often have
 * one) or an environment variable. Errors name the file or the variable, never the value.
 */
async function readCookie(file: string | undefined, envVar: string | undefined): Promise<string> {
  let cookie: string | undefined;
  if (file !== undefined) {
    try {
      cookie = (await readFile(file, 'utf8')).trim();
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new BeamscopeError(
        'config',
        'cookie_unreadable',
        `cannot read the cookie file ${file} (${reason})`,
        {
          cause: error,
        },
      );
    }
    if (!cookie)
      throw new BeamscopeError('config', 'cookie_empty', `the cookie file ${file} is empty`);
  } else if (envVar !== undefined) {
    cookie = process.env[envVar]?.trim();
    if (!cookie) {
      throw new BeamscopeError(
        'config',
        'cookie_empty',
        `the environment variable ${envVar} holds no cookie`,
      );
    }
  }
  return cookie!;
}

/**
 * The JSON document `--json` prints: the probe report with flat node lists, and each link's
 * controller written as Erlang shows it (`#Port<0.10>`, a pid for TLS), not as a term object.
 */
function toJson(node: string, localName: string, report: NodeProbeReport) {
  const { connectedNodes, hiddenNodes, links, ...rest } = report;
  return {
    node,
    localName,
    ...rest,
    links: links && {
      ...links,
      controllers:
        links.controllers?.map((entry) => ({
          node: entry.node,
          controller:
            entry.controller instanceof Port
              ? formatPort(entry.controller)
              : formatPid(entry.controller),
        })) ?? null,
    },
    connectedNodes: connectedNodes?.nodes ?? null,
    connectedNodesTruncated: connectedNodes?.truncated ?? false,
    hiddenNodes: hiddenNodes?.nodes ?? null,
    hiddenNodesTruncated: hiddenNodes?.truncated ?? false,
  };
}

function mebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function duration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const parts = [
    [Math.floor(seconds / 86400), 'd'],
    [Math.floor((seconds % 86400) / 3600), 'h'],
    [Math.floor((seconds % 3600) / 60), 'm'],
    [seconds % 60, 's'],
  ] as const;
  const shown = parts.filter(([value], index) => value > 0 || index === parts.length - 1);
  return shown.map(([value, unit]) => `${value}${unit}`).join(' ');
}

function detectionText<T>(detection: Detection<T>, describe: (present: T) => string): string {
  if (detection.status === 'absent') return 'absent';
  if (detection.status === 'error') return `error: ${detection.error.message}`;
  return describe(detection);
}

/** The human-readable report: one aligned table for the node, one for its registries. */
function toText(node: string, report: NodeProbeReport): string {
  const unknown = '?';
  const show = <T>(value: T | null, format: (value: T) => string) =>
    value === null ? unknown : format(value);
  const memory = report.memory;
  const rows: Array<[string, string]> = [
    ['node', node],
    ['OTP / ERTS', `${report.otpRelease ?? unknown} / ${report.ertsVersion ?? unknown}`],
    ['Elixir', report.elixirVersion ?? (report.errors.elixirVersion ? unknown : '-')],
    ['uptime', show(report.uptimeMs, duration)],
    ['processes', `${report.processCount ?? unknown} / ${report.processLimit ?? unknown}`],
    [
      'memory',
      memory
        ? `${mebibytes(memory.total)} (processes ${mebibytes(memory.processes)}, ets ${mebibytes(memory.ets)}, ` +
          `binary ${mebibytes(memory.binary)}, atom ${mebibytes(memory.atom)})`
        : unknown,
    ],
    ['run queue', show(report.runQueue, String)],
    [
      'schedulers',
      `${report.schedulersOnline ?? unknown} online of ${report.schedulers ?? unknown}`,
    ],
    ['net_ticktime', show(report.netTicktimeSeconds, (seconds) => `${seconds} s`)],
    [
      'connected',
      show(report.connectedNodes, (list) =>
        list.count === 0
          ? '(none)'
          : `${list.nodes.join(', ')}${list.truncated ? ` … (${list.count})` : ''}`,
      ),
    ],
    [
      'links',
      show(report.links, (links) => {
        // One reading: packets since each connection came up, and the queues read this time.
        const queues = new Map(links.queues.map((queue) => [queue.node, queue.queueBytes]));
        const text = links.counters
          .map(
            (link) =>
              `${link.node} in ${link.inPackets} / out ${link.outPackets} packets${queues.has(link.node) ? `, queue ${queues.get(link.node)} B` : ''}`,
          )
          .join('; ');
        const limit =
          links.busyLimitBytes === null ? '' : ` (busy limit ${links.busyLimitBytes} B)`;
        return `${text || '(none)'}${limit}`;
      }),
    ],
    [
      'hidden',
      show(report.hiddenNodes, (list) =>
        list.count === 0
          ? '(none)'
          : `${list.nodes.join(', ')}${list.truncated ? ` … (${list.count})` : ''}`,
      ),
    ],
  ];
  const { registries } = report;
  const registryRows: Array<[string, string]> = [
    [':global', detectionText(registries.global, (found) => replicaText(found))],
    ['Swarm', detectionText(registries.swarm, (found) => replicaText(found))],
    [
      ':pg (default scope)',
      detectionText(
        registries.pg,
        (found) =>
          `${found.groups} groups, ${found.members ?? `${unknown} (sampled)`} members, ${found.localMembers ?? unknown} here`,
      ),
    ],
    [
      'syn',
      detectionText(
        registries.syn,
        (found) =>
          found.scopes
            .map(
              (scope) =>
                `${scope.scope}: ${scope.names ?? unknown} names (${scope.hostedHere ?? unknown} hosted here), ${scope.members ?? unknown} group members (${scope.localMembers ?? unknown} here)`,
            )
            .join('; ') || 'no scopes started',
      ),
    ],
    ...registries.horde.map((entry): [string, string] => [
      `Horde ${entry.name}`,
      detectionText(entry, (found) => replicaText(found)),
    ]),
    ...registries.hordeSupervisors.map((entry): [string, string] => [
      `Horde supervisor ${entry.name}`,
      detectionText(entry, (found) => `${found.children} children here`),
    ]),
    ...registries.elixirRegistries.map((entry): [string, string] => [
      `Registry ${entry.name}`,
      detectionText(entry, (found) => `${found.keys} keys`),
    ]),
  ];
  const width = Math.max(...[...rows, ...registryRows].map(([label]) => label.length));
  const format = ([label, value]: [string, string]) => `${label.padEnd(width)}  ${value}`;
  const lines = [...rows.map(format), '', 'registries', ...registryRows.map(format)];
  const errors = Object.entries(report.errors);
  if (errors.length > 0) {
    lines.push('', 'failed probes');
    for (const [field, error] of errors) lines.push(`  ${field}: ${error.message}`);
  }
  return lines.join('\n') + '\n';
}

/** A replicated registry's line: this node's copy, and how much of it lives here. */
function replicaText(found: { names: number; hostedHere: number | null }): string {
  return `${found.names} names, ${found.hostedHere ?? '?'} hosted here`;
}

/** `--address-map 10.244.0.0/16=127.0.0.0/16`: as a config's `distribution.addressMap`. */
function parseMapping(text: string): AddressMapping {
  const [from = '', to = '', ...rest] = text.split('=');
  const mapping = { from, to };
  try {
    if (rest.length > 0) throw new Error('expected one =');
    checkMapping(mapping);
  } catch (error) {
    throw new UsageError(
      `--address-map takes FROM=TO networks, like 10.244.0.0/16=127.0.0.0/16 (got '${text}': ${(error as Error).message})`,
    );
  }
  return mapping;
}

/** `beamscope probe`: connect to one node as a hidden node, run the probe catalogue, print it. */
export const probeCommand: Command = {
  name: 'probe',
  summary: 'connect to one BEAM node and print what it reports (versions, processes, registries)',
  usage: USAGE,
  async run(argv: string[], io: CommandIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS, true);
    if (positionals.length !== 1)
      throw new UsageError('give exactly one node, e.g. myapp@10.0.0.12');
    const node = parseNodeName(positionals[0]!).full;
    if ((values['cookie-file'] === undefined) === (values['cookie-env'] === undefined)) {
      throw new UsageError('give exactly one of --cookie-file and --cookie-env');
    }
    const tlsFiles = [values['tls-ca'], values['tls-cert'], values['tls-key']];
    if (
      tlsFiles.some((file) => file !== undefined) &&
      !tlsFiles.every((file) => file !== undefined)
    ) {
      throw new UsageError('TLS distribution needs all of --tls-ca, --tls-cert and --tls-key');
    }
    const port = values.port === undefined ? undefined : integerOption('port', values.port, 0, 1);
    if (port !== undefined && port > 65535)
      throw new UsageError(`--port takes a port number, not '${port}'`);
    const epmdPort =
      values['epmd-port'] === undefined
        ? undefined
        : integerOption('epmd-port', values['epmd-port'], 0, 1);
    const addressMap = (values['address-map'] ?? []).map(parseMapping);
    const timeoutMs = integerOption('timeout', values.timeout, DEFAULT_TIMEOUT_MS, 1);
    const localName =
      values.name === undefined ? defaultLocalNodeName('cli') : parseNodeName(values.name).full;
    if (!swarmIgnoresNode(localName)) {
      throw new UsageError(
        `--name ${localName} would enter Swarm's hash ring: give a name with _maint_ in it, ` +
          'e.g. beamscope_maint_ops@HOST (see docs/registries.md)',
      );
    }
    const cookie = await readCookie(values['cookie-file'], values['cookie-env']);

    const connection = await connectNode(node, {
      localName,
      cookie,
      port,
      epmdPort,
      tls: values['tls-ca']
        ? { caFile: values['tls-ca'], certFile: values['tls-cert']!, keyFile: values['tls-key']! }
        : undefined,
      connectTimeoutMs: timeoutMs,
      ...(addressMap.length > 0 ? { dialHost: (host) => mapAddress(host, addressMap) } : {}),
    });
    try {
      const report = await runProbes(connection.rpc.bind(connection), {
        timeoutMs,
        elixirRegistries: values.registry ?? [],
        hordeRegistries: values.horde ?? [],
        hordeSupervisors: values['horde-supervisor'] ?? [],
        ...(values['syn-scope'] ? { synScopes: values['syn-scope'] } : {}),
      });
      io.stdout(
        values.json
          ? `${JSON.stringify(toJson(node, localName, report), null, 2)}\n`
          : toText(node, report),
      );
      return 0;
    } finally {
      connection.close();
    }
  },
};
