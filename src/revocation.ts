/**
 * How far a revocation reaches. More modes (an organization SCP, per-account enforcement) will be added as factories.
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

  /** The mode's name, for messages and tests. */
  public abstract readonly mode: string;

  /** @internal */
  public abstract readonly _deniesIssuedCredentials: boolean;
}

class Mode extends RevocationEnforcement {
  constructor(public readonly mode: string, public readonly _deniesIssuedCredentials: boolean) {
    super();
  }
}
