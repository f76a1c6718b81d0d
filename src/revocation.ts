import { Token } from 'aws-cdk-lib';

/**
 * Options of `RevocationEnforcement.organizationScp`.
 *
 * @experimental
 */
export interface OrganizationScpOptions {
  /**
   * Where the service control policy is attached: the organization's root (`r-…`), organizational units (`ou-…`) or
   * accounts (12 digits). SCPs do not apply to the management account.
   *
   * @experimental
   */
  readonly targetIds: string[];
}

/** Organizations' own pattern of a policy target (`AttachPolicy`'s TargetId). */
const TARGET_ID = /^(r-[0-9a-z]{4,32}|[0-9]{12}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$/;

/**
 * How far a revocation reaches.
 */
export abstract class RevocationEnforcement {
  /**
   * Revocation also denies the credentials already issued: an enforcer Lambda, fed by the session table's stream and run
   * every 5 minutes, keeps this TVM's inline policy (`SentinelRevokedSessions-<tvmName>-<region>`) on each protected role,
   * denying the revoked sessions' tags until their credentials expire.
   */
  public static roleDenyPolicy(): RevocationEnforcement {
    return new Mode('ROLE_DENY_POLICY', true);
  }

  /**
   * Revocation only refuses future vends and continuations: credentials already issued keep working until they expire
   * (at most `maxCredentialDuration`, 1 hour). No enforcer is deployed.
   */
  public static futureVendsOnly(): RevocationEnforcement {
    return new Mode('FUTURE_VENDS_ONLY', false);
  }

  /**
   * As `roleDenyPolicy()`, and the enforcer also keeps one service control policy, attached to `targetIds`, that denies
   * every action to principals carrying a revoked session's tag, in every account it reaches, chained sessions included.
   * The TVM's stack must be deployed in the organization's management account or in a delegated administrator account
   * for policies; SCPs do not apply to the management account. The enforcer may only describe and update that policy.
   *
   * @experimental
   */
  public static organizationScp(options: OrganizationScpOptions): RevocationEnforcement {
    const targetIds = options?.targetIds;
    if (!Array.isArray(targetIds) || targetIds.length === 0) {
      throw new Error('organizationScp: targetIds must list at least one root (r-…), organizational unit (ou-…) or account (12 digits)');
    }
    const seen = new Set<string>();
    targetIds.forEach((id, i) => {
      if (typeof id !== 'string') throw new Error(`organizationScp: targetIds[${i}] must be a string, got ${JSON.stringify(id)}`);
      if (Token.isUnresolved(id)) return;
      if (!TARGET_ID.test(id)) {
        throw new Error(`organizationScp: targetIds[${i}] is ${JSON.stringify(id)}: expected a root (r-…), an organizational unit `
          + '(ou-…-…) or an account id (12 digits)');
      }
      if (seen.has(id)) throw new Error(`organizationScp: targetIds[${i}] is ${id}, listed twice`);
      seen.add(id);
    });
    return new Mode('ORGANIZATION_SCP', true, { targetIds: [...targetIds] });
  }

  /** The mode's name, for messages and tests. */
  public abstract readonly mode: string;

  /** @internal */
  public abstract readonly _deniesIssuedCredentials: boolean;

  /**
   * The organization-wide SCP's options, in organization mode.
   * @internal
   */
  public abstract readonly _organizationScp?: OrganizationScpOptions;
}

class Mode extends RevocationEnforcement {
  constructor(
    public readonly mode: string,
    public readonly _deniesIssuedCredentials: boolean,
    public readonly _organizationScp?: OrganizationScpOptions,
  ) {
    super();
  }
}
