import 'server-only';

import type { Principal } from './principal';

/** The most groups kept from one claim, and the longest group name: a bound on what is stored. */
const MAX_GROUPS = 256;
const MAX_GROUP_LENGTH = 256;

/** A claim value made safe for one log line: no control characters, no spaces, bounded. */
export function printable(value: string, max = 200): string {
  const text = value.replace(/[\p{C}\s]/gu, '?');
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/**
 * The user's name, as `access.clusters.*.users` lists it: the e-mail address when the provider
 * says it is verified (what an operator recognizes), else the provider's stable `sub`.
 */
export function nameOf(claims: Readonly<Record<string, unknown>>): string {
  const email = claims.email;
  if (typeof email === 'string' && email && claims.email_verified === true) {
    return printable(email);
  }
  return printable(String(claims.sub));
}

/**
 * The subject audit lines name: the user's name prefixed `oidc:`, so it can never be mistaken
 * for another mode's subject.
 */
export function subjectOf(claims: Readonly<Record<string, unknown>>): string {
  return `oidc:${nameOf(claims)}`;
}

/** The groups read from one claim, and what was wrong with the claim, if anything. */
export interface GroupsReading {
  groups: string[];
  /** For the server log: why the claim gave fewer groups than it seemed to hold. */
  problem?: string;
}

/**
 * The groups in claim `name` of `claims`, or undefined when the claim is absent (the caller may
 * look in the userinfo answer next). A list keeps its non-empty strings; a single string (some
 * providers send one group that way) is one group; anything else gives no group, and says why —
 * a user with no group sees no cluster, which is the safe side of a misconfigured claim.
 */
export function groupsFrom(
  claims: Readonly<Record<string, unknown>>,
  name: string,
): GroupsReading | undefined {
  if (!Object.hasOwn(claims, name) || claims[name] === undefined || claims[name] === null) {
    return undefined;
  }
  const value = claims[name];
  if (typeof value === 'string') {
    return value.trim() ? { groups: [value.trim().slice(0, MAX_GROUP_LENGTH)] } : { groups: [] };
  }
  if (!Array.isArray(value)) {
    return {
      groups: [],
      problem: `the claim ${name} is ${typeof value === 'object' ? 'a mapping' : `a ${typeof value}`}, not a list of group names; the user is given no group`,
    };
  }
  const names = value.filter(
    (item): item is string =>
      typeof item === 'string' && item.trim() !== '' && item.length <= MAX_GROUP_LENGTH,
  );
  const groups = [...new Set(names.map((item) => item.trim()))].slice(0, MAX_GROUPS);
  const dropped = value.length - names.length;
  return dropped > 0
    ? {
        groups,
        problem: `the claim ${name} holds ${dropped} entr${dropped === 1 ? 'y' : 'ies'} that ${dropped === 1 ? 'is' : 'are'} not a group name (not a string, empty or too long); ignored`,
      }
    : { groups };
}

/** `{ subject, name, groups }` from a verified sign-in's claims. */
export function principalFromClaims(
  claims: Readonly<Record<string, unknown>>,
  groups: readonly string[],
): Principal {
  return { subject: subjectOf(claims), name: nameOf(claims), groups: [...groups] };
}
