import type { AccessWindowConfig } from '../../src/shared/access';

/**
 * Access windows at runtime: whether one of a profile's weekly windows is open at an instant, when that access ends and
 * when the next one opens. Pure (the clock is the argument) and cheap: it runs on every vend of a windowed profile.
 *
 * The semantics of {@link AccessWindowConfig}, made exact for daylight-saving days. A window on day D is open from the
 * first instant the zone's wall clock reads `start` on D, or later, until the first instant the wall clock reads `end`
 * (on D, or on D + 1 when `end` < `start`), or later. "Or later" settles both kinds of transition:
 * - a wall time a spring-forward jump skips is reached at the jump (the first existing instant after it): Berlin's
 *   02:30 on 2026-03-29 is 03:00 CEST = 01:00Z. A window whose start and end both lie in the skipped hour is empty that
 *   day;
 * - a wall time a fall-back repeats is its FIRST occurrence, for the start and for the end alike: a window never opens on
 *   the second pass, and a window ending in the repeated hour closes at its first pass (credentials never outlive the
 *   earliest reading of the window's end). Berlin 01:00–02:30 on 2026-10-25 lasts 1 h 30 (23:00Z–00:30Z) and stays
 *   closed when 02:00–02:30 comes round again.
 * So a window lasts, in real time, the time between those two instants: its wall-clock length, plus the shift when a
 * fall-back happens while it is open (Berlin 01:00–04:00 on 2026-10-25 lasts 4 h), less the skipped time it spans on a
 * spring-forward day (02:30–04:00 on 2026-03-29 lasts 1 h).
 *
 * Windows are merged for {@link WindowState.closesAt}: a window that opens when (or before) another closes extends it.
 */
export interface WindowState {
  /** Whether a window is open at `now`. */
  readonly open: boolean;
  /**
   * When open: when the access ends, i.e. the end of the union of open windows contiguous with now (a window that opens
   * exactly when another closes, or overlaps it, extends it). A union longer than the scan (windows open around the
   * clock) is reported ending where the scan ends, a week or more ahead: earlier than the truth, never later.
   */
  readonly closesAt?: Date;
  /**
   * When closed: the next opening within the next {@link HORIZON_DAYS} days; undefined if none. A valid config always
   * opens within 7 days, except a window whose only day's start and end both fall in one spring-forward gap.
   */
  readonly nextOpensAt?: Date;
}

/** A configuration that cannot be evaluated (an unknown time zone, a malformed window): a configuration error, never UTC. */
export class AccessWindowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccessWindowError';
  }
}

/** How far ahead the next opening is looked for. */
export const HORIZON_DAYS = 8;

const MINUTE = 60_000;
const DAY = 86_400_000;
const HH_MM = /^([01][0-9]|2[0-3]):([0-5][0-9])$/;

/**
 * A zone's UTC offset over one UTC day `[d·DAY, (d+1)·DAY)`: `before` up to `at`, `after` from it (`at` is the transition,
 * or the day's end when there is none). Assumes at most one transition per zone per UTC day, as every current zone has.
 */
interface DayOffsets {
  readonly before: number;
  readonly at: number;
  readonly after: number;
}

interface Zone {
  readonly format: Intl.DateTimeFormat;
  /** Offset at the start of each UTC day asked about (a formatToParts costs ~3 µs: each is asked once per container). */
  readonly dayStart: Map<number, number>;
  readonly days: Map<number, DayOffsets>;
}

/** Cached per container: a warm vend calls no formatter at all. */
const zones = new Map<string, Zone>();
/** Days cached per zone before the cache starts over (one a day is added; this bounds a very long-lived process). */
const MAX_CACHED_DAYS = 4096;

function zoneOf(timeZone: string): Zone {
  let zone = zones.get(timeZone);
  if (zone) return zone;
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
  } catch {
    throw new AccessWindowError(`access window time zone "${String(timeZone).slice(0, 64)}" is not known to this runtime`);
  }
  zone = { format, dayStart: new Map(), days: new Map() };
  zones.set(timeZone, zone);
  return zone;
}

/** The zone's offset (wall clock − UTC, ms) at `t`, from the formatter: whole seconds, as tzdata's transitions are. */
function formattedOffset(zone: Zone, t: number): number {
  let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  for (const p of zone.format.formatToParts(t)) {
    switch (p.type) {
      case 'year': y = Number(p.value); break;
      case 'month': mo = Number(p.value); break;
      case 'day': d = Number(p.value); break;
      case 'hour': h = Number(p.value); break;
      case 'minute': mi = Number(p.value); break;
      case 'second': s = Number(p.value); break;
      default: break;
    }
  }
  return Date.UTC(y, mo - 1, d, h, mi, s) - Math.floor(t / 1000) * 1000;
}

function offsetAtDayStart(zone: Zone, day: number): number {
  let o = zone.dayStart.get(day);
  if (o === undefined) {
    if (zone.dayStart.size >= MAX_CACHED_DAYS) zone.dayStart.clear();
    o = formattedOffset(zone, day * DAY);
    zone.dayStart.set(day, o);
  }
  return o;
}

function offsetsOfDay(zone: Zone, day: number): DayOffsets {
  let offsets = zone.days.get(day);
  if (offsets) return offsets;
  const before = offsetAtDayStart(zone, day);
  const after = offsetAtDayStart(zone, day + 1);
  let at = (day + 1) * DAY;
  if (after !== before) {
    // The transition: the first second whose offset is no longer `before` (17 steps, twice a year per zone).
    let lo = day * 86_400;
    let hi = (day + 1) * 86_400;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (formattedOffset(zone, mid * 1000) === before) lo = mid;
      else hi = mid;
    }
    at = hi * 1000;
  }
  offsets = { before, at, after };
  if (zone.days.size >= MAX_CACHED_DAYS) zone.days.clear();
  zone.days.set(day, offsets);
  return offsets;
}

/** The zone's offset at `t`. */
function offsetAt(zone: Zone, t: number): number {
  const o = offsetsOfDay(zone, Math.floor(t / DAY));
  return t < o.at ? o.before : o.after;
}

/**
 * The first instant at which the zone's wall clock reads `wall` (ms since the epoch of wall-clock time) or later: the
 * first occurrence of a repeated wall time, the jump for a skipped one. Walks the offset's constant stretches from a
 * day before (no offset reaches a day): in each, the wall clock is `t + offset`, so the first fit is `wall − offset`.
 */
function firstReach(zone: Zone, wall: number): number {
  let t = wall - DAY;
  for (;;) {
    const day = Math.floor(t / DAY);
    const o = offsetsOfDay(zone, day);
    const end = t < o.at ? o.at : (day + 1) * DAY;
    const at = Math.max(t, wall - (t < o.at ? o.before : o.after));
    if (at < end) return at;
    t = end;
  }
}

interface Parsed {
  readonly zone: Zone;
  /** Indexed by ISO weekday. */
  readonly onDay: readonly boolean[];
  readonly start: number;
  readonly end: number;
}

function minutesOf(hhmm: string, field: string): number {
  const m = typeof hhmm === 'string' ? HH_MM.exec(hhmm) : null;
  if (!m) throw new AccessWindowError(`access window ${field} "${String(hhmm).slice(0, 10)}": expected HH:MM from 00:00 to 23:59`);
  return Number(m[1]) * 60 + Number(m[2]);
}

function parse(w: AccessWindowConfig): Parsed {
  const zone = zoneOf(w.timeZone);
  const onDay = [false, false, false, false, false, false, false, false];
  for (const d of Array.isArray(w.days) ? w.days : []) {
    if (Number.isInteger(d) && d >= 1 && d <= 7) onDay[d] = true;
    else throw new AccessWindowError(`access window days: ${String(d).slice(0, 10)} is not a weekday 1 (Monday) to 7 (Sunday)`);
  }
  const start = minutesOf(w.start, 'start');
  const end = minutesOf(w.end, 'end');
  if (start === end) throw new AccessWindowError(`access window start and end are both ${w.start}: a window must have a length`);
  return { zone, onDay, start, end };
}

/** ISO weekday (1 = Monday) of a wall-clock day number (day 0, 1970-01-01, was a Thursday). */
function isoWeekday(day: number): number {
  return ((((day + 3) % 7) + 7) % 7) + 1;
}

/**
 * Evaluates windows at `now`. Throws {@link AccessWindowError} (naming the zone) for an unknown zone, and for a malformed
 * window: never a silent UTC fallback. No windows: never open.
 */
export function windowState(windows: readonly AccessWindowConfig[], now: Date): WindowState {
  const t = now.getTime();
  if (!Number.isFinite(t)) throw new AccessWindowError('access windows: the clock is not a valid date');
  // Each window's intervals [opens[i], closes[i]) for its days from yesterday (a window lasts under a day and a DST
  // shift, so none from earlier is still open) to HORIZON_DAYS ahead, in its own zone's calendar.
  const opens: number[] = [];
  const closes: number[] = [];
  for (const w of windows) {
    const p = parse(w);
    const today = Math.floor((t + offsetAt(p.zone, t)) / DAY);
    const endDay = p.end < p.start ? 1 : 0;
    for (let day = today - 1; day <= today + HORIZON_DAYS; day++) {
      if (!p.onDay[isoWeekday(day)]) continue;
      const open = firstReach(p.zone, day * DAY + p.start * MINUTE);
      const close = firstReach(p.zone, (day + endDay) * DAY + p.end * MINUTE);
      if (close > open) {
        opens.push(open);
        closes.push(close);
      }
    }
  }
  let closesAt = -Infinity;
  let nextOpensAt = Infinity;
  for (let i = 0; i < opens.length; i++) {
    if (opens[i] <= t && t < closes[i]) closesAt = Math.max(closesAt, closes[i]);
    else if (opens[i] > t && opens[i] < nextOpensAt) nextOpensAt = opens[i];
  }
  if (closesAt === -Infinity) {
    return nextOpensAt - t <= HORIZON_DAYS * DAY ? { open: false, nextOpensAt: new Date(nextOpensAt) } : { open: false };
  }
  // Extend through every interval that opens before (or when) the union so far closes; n is a few dozen at most.
  for (let grown = true; grown;) {
    grown = false;
    for (let i = 0; i < opens.length; i++) {
      if (opens[i] <= closesAt && closes[i] > closesAt) {
        closesAt = closes[i];
        grown = true;
      }
    }
  }
  return { open: true, closesAt: new Date(closesAt) };
}

/**
 * Convenience for the vend: `undefined` when no windows are configured (absent or empty, as an auto-approve rule's empty
 * `during` means "always"): no restriction.
 */
export function accessWindowState(windows: readonly AccessWindowConfig[] | undefined, now: Date): WindowState | undefined {
  return windows && windows.length > 0 ? windowState(windows, now) : undefined;
}
