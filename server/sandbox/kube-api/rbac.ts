import 'server-only';

// The emulated API's RBAC: Roles, ClusterRoles and their bindings, and the authorizer that
// evaluates a request against them as Kubernetes' RBAC authorizer does — rules with `*`
// wildcards, subjects that are users, groups or service accounts, a RoleBinding that reaches only
// its namespace — with the same `reason` wording. A SubjectAccessReview and the API's own
// requests by sandbox accounts are decided here, so deleting a RoleBinding flips both at once.

import { randomUUID } from 'node:crypto';

/** A PolicyRule of a Role or ClusterRole (resource rules; nonResourceURLs are not served). */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

export interface RoleObject {
  apiVersion: 'rbac.authorization.k8s.io/v1';
  kind: 'Role' | 'ClusterRole';
  metadata: { name: string; namespace?: string; uid?: string; creationTimestamp?: string };
  rules: PolicyRule[];
}

export interface Subject {
  kind: 'User' | 'Group' | 'ServiceAccount';
  name: string;
  namespace?: string;
  apiGroup?: string;
}

export interface BindingObject {
  apiVersion: 'rbac.authorization.k8s.io/v1';
  kind: 'RoleBinding' | 'ClusterRoleBinding';
  metadata: { name: string; namespace?: string; uid?: string; creationTimestamp?: string };
  roleRef: { apiGroup: 'rbac.authorization.k8s.io'; kind: 'Role' | 'ClusterRole'; name: string };
  subjects?: Subject[];
}

export type RbacObject = RoleObject | BindingObject;
export type RbacKind = RbacObject['kind'];

/** What a request (or a SubjectAccessReview) asks: who, which verb, on what, where. */
export interface Attributes {
  user: string;
  groups: readonly string[];
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
}

/** The authorizer's answer, as a SubjectAccessReview's status carries it. */
export interface Decision {
  allowed: boolean;
  reason?: string;
  evaluationError?: string;
}

/** Thrown for an object the store cannot take: the message is the API's (or control's) reason. */
export class RbacError extends Error {}

const KINDS: readonly RbacKind[] = ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'];
const NAMESPACED = new Set<RbacKind>(['Role', 'RoleBinding']);
const NAME = /^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$/;

const matches = (values: readonly string[] | undefined, value: string) =>
  (values ?? []).includes('*') || (values ?? []).includes(value);

/** Whether `rule` allows `attributes` (RBAC's RuleAllows for resource requests). */
export function ruleAllows(rule: PolicyRule, attributes: Attributes): boolean {
  return (
    matches(rule.verbs, attributes.verb) &&
    matches(rule.apiGroups, attributes.group) &&
    matches(rule.resources, attributes.resource) &&
    ((rule.resourceNames ?? []).length === 0 ||
      (attributes.name !== undefined && rule.resourceNames!.includes(attributes.name)))
  );
}

/** RBAC's subject matching: a user by name, a group by membership, a service account by its user name. */
function appliesTo(subject: Subject, attributes: Attributes, bindingNamespace: string | undefined) {
  switch (subject.kind) {
    case 'User':
      return subject.name === attributes.user;
    case 'Group':
      return attributes.groups.includes(subject.name);
    case 'ServiceAccount':
      return (
        attributes.user ===
        `system:serviceaccount:${subject.namespace ?? bindingNamespace ?? ''}:${subject.name}`
      );
  }
}

/** A subject as the RBAC authorizer's reason names it. */
function describeSubject(subject: Subject, bindingNamespace: string | undefined): string {
  return subject.kind === 'ServiceAccount'
    ? `ServiceAccount "${subject.name}/${subject.namespace ?? bindingNamespace ?? ''}"`
    : `${subject.kind} "${subject.name}"`;
}

const keyOf = (kind: RbacKind, namespace: string | undefined, name: string) =>
  `${kind}/${namespace ?? ''}/${name}`;

/** The RBAC objects of the emulated cluster. */
export class RbacStore {
  private readonly objects = new Map<string, RbacObject>();

  /** Creates or replaces `object` (checked as the API would), returning the stored copy. */
  apply(input: unknown): RbacObject {
    const object = input as Partial<RbacObject> | null;
    if (!object || typeof object !== 'object' || !KINDS.includes(object.kind as RbacKind)) {
      throw new RbacError(`expected a Role, ClusterRole, RoleBinding or ClusterRoleBinding`);
    }
    const kind = object.kind as RbacKind;
    const name = object.metadata?.name;
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new RbacError(`${kind}.metadata.name: expected a lowercase RFC 1123 name`);
    }
    const namespace = object.metadata?.namespace;
    if (NAMESPACED.has(kind) !== (typeof namespace === 'string' && namespace.length > 0)) {
      throw new RbacError(
        `${kind}.metadata.namespace: ${NAMESPACED.has(kind) ? 'required' : 'must be empty'} for a ${kind}`,
      );
    }
    if (kind === 'Role' || kind === 'ClusterRole') {
      const rules = (object as Partial<RoleObject>).rules ?? [];
      if (!Array.isArray(rules) || rules.some((rule) => !Array.isArray(rule?.verbs))) {
        throw new RbacError(`${kind}.rules: expected rules, each with verbs`);
      }
    } else {
      const binding = object as Partial<BindingObject>;
      const ref = binding.roleRef;
      if (!ref || (ref.kind !== 'Role' && ref.kind !== 'ClusterRole') || !ref.name) {
        throw new RbacError(`${kind}.roleRef: expected a Role or ClusterRole by name`);
      }
      if (kind === 'ClusterRoleBinding' && ref.kind !== 'ClusterRole') {
        throw new RbacError('ClusterRoleBinding.roleRef.kind: Unsupported value: "Role"');
      }
    }
    const stored = {
      ...object,
      apiVersion: 'rbac.authorization.k8s.io/v1',
      metadata: {
        ...object.metadata,
        uid: object.metadata?.uid ?? randomUUID(),
        creationTimestamp: object.metadata?.creationTimestamp ?? new Date().toISOString(),
      },
    } as RbacObject;
    this.objects.set(keyOf(kind, namespace, name), stored);
    return stored;
  }

  /** Deletes an object; false when there was none. */
  delete(kind: RbacKind, namespace: string | undefined, name: string): boolean {
    return this.objects.delete(keyOf(kind, NAMESPACED.has(kind) ? namespace : undefined, name));
  }

  list(kind?: RbacKind): RbacObject[] {
    return [...this.objects.values()].filter((object) => !kind || object.kind === kind);
  }

  private role(kind: 'Role' | 'ClusterRole', namespace: string | undefined, name: string) {
    return this.objects.get(keyOf(kind, kind === 'Role' ? namespace : undefined, name)) as
      RoleObject | undefined;
  }

  /**
   * RBAC's decision: allowed with the binding that allows it, else no opinion (allowed false,
   * no reason). A binding whose role is missing is reported as the evaluation error it is.
   */
  authorize(attributes: Attributes): Decision {
    const errors: string[] = [];
    const bindings = this.list().filter(
      (object): object is BindingObject =>
        object.kind === 'ClusterRoleBinding' ||
        (object.kind === 'RoleBinding' &&
          attributes.namespace !== undefined &&
          object.metadata.namespace === attributes.namespace),
    );
    // ClusterRoleBindings first, as the authorizer visits them.
    bindings.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'ClusterRoleBinding' ? -1 : 1));
    for (const binding of bindings) {
      const bindingNamespace = binding.metadata.namespace;
      const subject = (binding.subjects ?? []).find((candidate) =>
        appliesTo(candidate, attributes, bindingNamespace),
      );
      if (!subject) continue;
      const role = this.role(binding.roleRef.kind, bindingNamespace, binding.roleRef.name);
      if (!role) {
        const resource = binding.roleRef.kind === 'Role' ? 'roles' : 'clusterroles';
        errors.push(`${resource}.rbac.authorization.k8s.io "${binding.roleRef.name}" not found`);
        continue;
      }
      if (role.rules.some((rule) => ruleAllows(rule, attributes))) {
        const source =
          binding.kind === 'ClusterRoleBinding'
            ? `ClusterRoleBinding "${binding.metadata.name}"`
            : `RoleBinding "${binding.metadata.name}/${bindingNamespace}"`;
        return {
          allowed: true,
          reason: `RBAC: allowed by ${source} of ${role.kind} "${role.metadata.name}" to ${describeSubject(subject, bindingNamespace)}`,
        };
      }
    }
    return {
      allowed: false,
      ...(errors.length > 0 ? { evaluationError: errors.join(', ') } : {}),
    };
  }
}
