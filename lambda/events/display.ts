import {
  AccessEventTypes, GrantKinds,
  type AccessActivatedDetail, type AccessApprovedDetail, type AccessDeniedDetail, type AccessDisplay, type AccessEndedDetail,
  type AccessEventDetail, type AccessRequestCancelledDetail, type AccessRequestExpiredDetail, type AccessWithdrawnDetail,
  type BreakGlassInvokedDetail, type BreakGlassReviewedDetail,
} from '../../src/shared/access';

/**
 * Chat text of the access events (`detail.display`), for AWS Chatbot's custom notifications (`client-markdown`: Slack's or
 * Teams' markdown). A rule's input transformer copies it as it is, so the text is made safe here, once: every value the
 * TVM did not write itself is shown as inline code, after {@link inert}; the TVM's own words use none of the characters
 * that `inert` takes out. So no requester can put a link, a mention or formatting into an approver's channel, and no
 * value can break the JSON of a template it is copied into, with or without quotes around it.
 */

/** The most characters (code points) of one value shown; longer ones are cut, ending with `…`. */
export const MAX_DISPLAY_VALUE = 300;
/** Approvers named at most (the API allows 5 approvals); the others are counted. */
const MAX_NAMED = 5;

// Control characters (C0, C1), format characters (bidirectional overrides, zero-width ones, the soft hyphen), line and
// paragraph separators, lone surrogates: each becomes a space, so no value can hide text, reorder it or break a line.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/**
 * Characters that could make markup of a value: Slack's `<url|text>`, `<@user>`, `<!here>` and its entities (`&lt;`),
 * markdown links (`[text](url)`), mentions and mail addresses (`@`), the end of the value's code span, and what a quoted
 * JSON template cannot take. Each becomes a look-alike that means nothing to any of them.
 */
const LOOK_ALIKES: Record<string, string> = {
  '<': '\u2039', // ‹
  '>': '\u203a', // ›
  '&': '\uff06', // ＆
  '[': '\uff3b', // ［
  ']': '\uff3d', // ］
  '@': '\uff20', // ＠
  '`': '\u02cb', // ˋ
  '"': '\u201d', // ”
  '\\': '\uff3c', // ＼
};
const MARKUP = /[<>&[\]@`"\\]/g;

/**
 * A value as chat text shows it: invisible characters as spaces, runs of white space as one, markup characters as
 * look-alikes, `://` broken (`［:］//`, so that no client or mail reader makes a link of it), at most 300 characters.
 */
export function inert(value: string): string {
  const text = value.replace(INVISIBLE, ' ').replace(/\s+/g, ' ').trim()
    .replace(MARKUP, (c) => LOOK_ALIKES[c])
    .replace(/:\/\//g, '\uff3b:\uff3d//');
  const chars = Array.from(text);
  return chars.length <= MAX_DISPLAY_VALUE ? text : `${chars.slice(0, MAX_DISPLAY_VALUE - 1).join('')}\u2026`;
}

/** A value as inline code (empty when there is nothing to show). */
function code(value: string): string {
  const text = inert(value);
  return text === '' ? '' : `\`${text}\``;
}

/** `2036-01-25 14:30 UTC`, from an ISO time as stored; empty for none. */
function when(iso: string): string {
  return iso === '' ? '' : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** `1 h 30 min`, `2 d`, `15 min`. */
export function duration(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const parts = [d ? `${d} d` : '', h ? `${h} h` : '', m ? `${m} min` : ''].filter(Boolean);
  return parts.length > 0 ? parts.join(' ') : `${seconds} s`;
}

/** The requester: user and ARN, and a warning when AWS does not vouch for the name. */
function requester(d: AccessEventDetail): string {
  const who = `${code(d.user) || 'A caller'} (${code(d.principalArn)})`;
  return d.requesterVerified ? who : `${who}, whose name the caller chose (not a verified person),`;
}

/** Reason and ticket, as sentences. */
function why(d: AccessEventDetail): string {
  return [d.reason ? `Reason: ${code(d.reason)}.` : 'No reason given.', d.ticket ? `Ticket: ${code(d.ticket)}.` : ''].filter(Boolean).join(' ');
}

const approvals = (d: AccessEventDetail) => `${d.approvals.count} of ${d.approvals.required} approvals`;
const said = (comment: string) => (comment ? `: ${code(comment)}` : '');

/** The exact commands of the people who decide, the request id in them (16 hex digits, nothing to escape). */
const commands = {
  approve: (id: string) => [`To approve: \`sentinel-tvm approve ${id}\``, `To deny: \`sentinel-tvm deny ${id} --comment '…'\``],
  withdraw: (id: string) => [`To end it early: \`sentinel-tvm withdraw ${id} --reason '…'\``],
  review: (id: string) => [`To review: \`sentinel-tvm review ${id} --outcome accepted --note '…'\` (or \`--outcome flagged\`)`],
};

/** The chat text of an access event, from its detail (everything but `display`). */
export function accessDisplay(detailType: string, d: Omit<AccessEventDetail, 'display'>): AccessDisplay {
  const x = d as AccessEventDetail;
  const profile = code(d.profile);
  const role = code(d.roleArn);
  const w = d.window;
  const windowText = `${duration(w.requestedSeconds)}${w.notBefore ? `, from ${when(w.notBefore)}` : ''}`;
  const until = w.expiresAt ? `, until ${when(w.expiresAt)}` : '';
  const out = (title: string, description: string[], nextSteps: string[] = []): AccessDisplay =>
    ({ title, description: description.filter(Boolean).join(' '), nextSteps });
  switch (detailType) {
    case AccessEventTypes.ACCESS_REQUESTED:
      return out(`Access requested: ${profile}`, [
        `${requester(x)} asks for ${profile} (${role}) for ${windowText}.`, why(x),
        `Needs ${d.approvals.required} approval${d.approvals.required === 1 ? '' : 's'}${w.requestExpiresAt ? ` by ${when(w.requestExpiresAt)}` : ''}.`,
      ], commands.approve(d.sessionId));
    case AccessEventTypes.ACCESS_APPROVAL_RECORDED: {
      const a = d as AccessApprovedDetail;
      return out(`Approval ${d.approvals.count} of ${d.approvals.required}: ${profile}`, [
        `${code(a.approver)} approved${said(a.comment)}.`, `${requester(x)} asks for ${profile} (${role}) for ${windowText}.`, why(x),
      ], commands.approve(d.sessionId));
    }
    case AccessEventTypes.ACCESS_APPROVED: {
      const a = d as AccessApprovedDetail;
      const all = d.approvals.approvedBy;
      const more = all.length > MAX_NAMED ? ` and ${all.length - MAX_NAMED} more` : '';
      const by = a.autoApproved
        ? `the profile's rule ${code(a.approver.replace(/^policy:/, ''))}`
        : `${all.slice(0, MAX_NAMED).map(code).join(', ')}${more}`;
      return out(`Access approved${a.autoApproved ? ' by policy' : ''}: ${profile}`, [
        `${requester(x)} may use ${profile} (${role}) for ${windowText}${until}.`, `Approved by ${by}${said(a.comment)}.`, why(x),
      ], commands.withdraw(d.sessionId));
    }
    case AccessEventTypes.ACCESS_DENIED: {
      const a = d as AccessDeniedDetail;
      return out(`Access denied: ${profile}`, [
        `${code(a.decidedBy)} denied the request of ${requester(x)} for ${profile}${said(a.comment)}.`, why(x),
      ]);
    }
    case AccessEventTypes.ACCESS_REQUEST_CANCELLED: {
      const a = d as AccessRequestCancelledDetail;
      return out(`Access request cancelled: ${profile}`, [`${code(a.decidedBy)} cancelled the request for ${profile}.`, why(x)]);
    }
    case AccessEventTypes.ACCESS_REQUEST_EXPIRED: {
      const a = d as AccessRequestExpiredDetail;
      return out(`Access request expired: ${profile}`, [
        `The request of ${requester(x)} for ${profile} had ${approvals(x)} at its deadline${w.requestExpiresAt ? `, ${when(w.requestExpiresAt)}` : ''}.`,
        a.endedReason ? `(${code(a.endedReason)})` : '', why(x),
      ]);
    }
    case AccessEventTypes.ACCESS_ACTIVATED: {
      const a = d as AccessActivatedDetail;
      const kind = d.grantKind === GrantKinds.BREAK_GLASS ? 'break-glass' : 'approved';
      return out(`Access in use: ${profile}`, [
        `${requester(x)} started using the ${kind} grant for ${profile} (${role})${until}.`,
        `Its credentials carry SourceIdentity ${code(a.sourceIdentity)}.`,
      ], commands.withdraw(d.sessionId));
    }
    case AccessEventTypes.ACCESS_ENDED: {
      const a = d as AccessEndedDetail;
      return out(`Access ended: ${profile}`, [
        `The grant of ${requester(x)} for ${profile} reached the end of its window${w.expiresAt ? `, ${when(w.expiresAt)}` : ''}`
        + `${a.activatedAt ? ': its credentials ended with it.' : ', never used.'}`,
      ]);
    }
    case AccessEventTypes.ACCESS_WITHDRAWN: {
      const a = d as AccessWithdrawnDetail;
      return out(`Access withdrawn: ${profile}`, [
        `${code(a.revokedBy)} ended the grant of ${requester(x)} for ${profile}${a.revokedKind ? ` (${code(a.revokedKind)})` : ''}${said(a.comment)}.`,
        a.activatedAt ? 'The credentials it had are being denied.' : 'It was never used: no credentials to deny.',
      ]);
    }
    case AccessEventTypes.BREAK_GLASS_INVOKED: {
      const a = d as BreakGlassInvokedDetail;
      return out(`Break glass: ${profile}`, [
        `${requester(x)} broke glass on ${profile} (${role}) for ${windowText}${until}, without an approver.`, why(x),
        a.reviewDueAt ? `Review due by ${when(a.reviewDueAt)}.` : '',
      ], commands.review(d.sessionId));
    }
    case AccessEventTypes.BREAK_GLASS_REVIEWED: {
      const a = d as BreakGlassReviewedDetail;
      return out(`Break glass reviewed (${code(a.outcome)}): ${profile}`, [
        `${code(a.reviewedBy)} reviewed the break-glass of ${requester(x)} on ${profile}${said(a.note)}.`, why(x),
      ]);
    }
    default:
      return out(code(detailType), []);
  }
}
