/**
 * --level auto: the level of each next block, from what the upload measures of itself.
 * Three things are measured without doubt: what a Worker compresses per second at a level
 * (its own time on each block), what the upload reads per second at it, and how long the
 * send side waited for each block once it asked, over a window of blocks (where
 * compression limits, once the first megabytes have filled the socket's buffers). Where
 * blocks wait for the send side (it hardly waits for them), the link limits: the level
 * goes up, at once, to the one that would read most, the highest of those that keep up
 * with what the link carries (the bytes it sends now, times that level's ratio), or where
 * none does, the one nearest to it where that beats the level it is at. Where the send
 * side waits for blocks, compression or the input limits, and the level goes down a step
 * (less CPU, which an engine's save on the same cores takes back); the step is kept where
 * the upload reads about as fast or faster; but where the Workers sat idle on a link
 * measured lately, the input paused and no level reads faster. Where the link was measured
 * lately, a step down it would clearly carry slower is not even tried; a window that one
 * block took most of held a stall (the receiver paused), and is measured again, and a link
 * measure that the upload has since clearly beaten while compression limited it is let go.
 * A move that reads slower is undone (a step up only where compression then limits; a step
 * down also where the link sends it back up), and tried again only after twice as long
 * each time. Where the link limits at one level and compression at the next, neither alone
 * is best: blocks of both are mixed, evenly, at the share where compression and the link
 * take equally long, and each window moves the share to where the two meet as last
 * measured. Each block is a gzip member of its own, so a change costs nothing. Pure: the
 * times come in with the blocks.
 */

/** The levels auto chooses between: 0 stores; libdeflate goes up to 12. */
export const MIN_LEVEL = 0;
export const MAX_LEVEL = 12;
/** Where auto starts: the fast end, where most links are; a slow link is climbed from there. */
export const START_LEVEL = 1;

/**
 * The shape of the levels' costs before they are measured (libdeflate, per core, input
 * MB/s, and the ratio, on an image's layers here): only scaled to what is measured.
 */
const PRIOR_SPEED = [Infinity, 130, 115, 100, 85, 70, 56, 42, 28, 20, 5, 3, 2];
const PRIOR_RATIO = [1, 2.57, 2.62, 2.68, 2.72, 2.77, 2.81, 2.83, 2.85, 2.86, 2.95, 2.96, 2.97];

/**
 * Bytes sent before compression can be judged to limit: the socket's buffers (and a
 * proxy's) take the first megabytes at once, so the start reads as fast as compression,
 * on any link, and looks like a place to store. On loopback here a link of 50 Mbit/s
 * showed after 6.9-7.7 MB; a link that shows sooner is judged at once. On a fast link
 * these cost a tenth of a second at level 1.
 */
const BURST = 10e6;
/** Blocks let pass after a move (the queue filling at the new level), then timed, before the level is judged. */
const SETTLE = 2;
/**
 * A window is this many blocks and at least this long (but the first): on a fast link
 * four blocks pass in 60 ms, and what they read swings by 2× with the scheduler and
 * the collector.
 */
const WINDOW = 4;
const MIN_WINDOW_MS = 250;
/** A move that reads below this share of the level left is undone after `EARLY` timed blocks; a step down the link would carry below it is not tried. */
const CLEARLY_WORSE = 0.8;
const EARLY = 2;
/**
 * Where the send side waited for blocks this share of a window's time, compression or the
 * input limits, not the link. A guess of how busy the Workers are (their speed, measured
 * block by block, swings with the scheduler) decided it before: at the edge of what a
 * level compresses, a speed measured 20 % high kept a level that could not keep up.
 */
const WAITS = 0.25;
/**
 * Where the Workers were busy less than this share of a window's time while the send side
 * waited, the input limits, not compression: an input that stops now and then.
 */
const IDLE = 0.5;
/** A level up is chosen only where its compression has this much room over what the link would need. */
const ROOM = 1.15;
/** A move is kept where the upload reads at least this share as fast: up, it sends fewer bytes; down, it costs less CPU. */
const AS_FAST = 0.97;
/** Windows a move that was undone waits before it is tried again, doubled at each failure. */
const BACKOFF = 2;
/** A window where one block took more than this share of its time held a stall, not a measure. */
const STALL = 0.5;
/** Windows for which the link measured where it was the limit is taken as still true. */
const LINK_KNOWN = 64;
/** What each measure keeps of what came before, at each block. */
const KEEP = 0.85;
/**
 * A mix of two adjacent levels is taken only where it should read this much faster than
 * either alone. Each window of it then measures one end (the link where it limits, the
 * upper level's compression where that does) and moves the share to where they meet, and
 * at least this far the way the window points, so an end measured wrong cannot hold it.
 */
const MIX_GAIN = 1.05;
const MIX_NUDGE = 0.04;
/** Windows after which a mix that has read no faster on average than the better level alone is left for it. */
const MIX_TRIAL = 4;

/** One block, as the send side takes it. */
export interface Taken {
  /** The level it was compressed at. */
  level: number;
  /** Its uncompressed bytes, and its member's bytes. */
  read: number;
  sent: number;
  /** Stored because it does not compress: it says nothing of its level's speed or ratio. */
  stored: boolean;
  /** The Worker's time on it (its read from a file included). */
  compressMs: number;
  /** Since the send side took the block before (none for the first). */
  sinceLastMs: number;
  /** How long the send side waited for it once it asked: next to nothing where the link limits. */
  waitedMs: number;
  workers: number;
}

/** Decayed sums of an amount and what it is per: their quotient a rate that a lone outlier moves little. */
class Rate {
  private amount = 0;
  private per = 0;

  add(amount: number, per: number): void {
    this.amount = this.amount * KEEP + amount;
    this.per = this.per * KEEP + per;
  }

  get value(): number | undefined {
    return this.per > 0 ? this.amount / this.per : undefined;
  }
}

export class LevelControl {
  private current = START_LEVEL;
  /** Per level: a Worker's input bytes per ms of its own time; input bytes per byte sent. */
  private readonly speed = new Map<number, Rate>();
  private readonly ratio = new Map<number, Rate>();
  /** Blocks taken at the current level since it was set, and what the timed ones read in their time. */
  private run = 0;
  private window = emptyWindow();
  /** The move being judged: the level left and what the upload read per ms there. */
  private from: { level: number; reads: number } | undefined;
  /** Per move (from>to): how often it was undone, and the window before which it waits. */
  private readonly undone = new Map<string, { times: number; until: number }>();
  /** What the link carried (bytes sent per ms) when it last was the limit, and in which window. */
  private link: { carried: number; at: number } | undefined;
  /** The last step down, while the level is still where it led. */
  private down: { from: number; to: number } | undefined;
  /**
   * Blocks at `current + 1` mixed in at this share, where the link limits at `current` and
   * compression at `current + 1`: on a fast link two cores' level 1 sends less than the link
   * carries and storing wastes it, and a mix of the two reads faster than either.
   * `owed` spreads them evenly. `link` is what the link carries (bytes sent per ms) and `hi`
   * what the Workers read per ms at the upper level, as last measured; `base` is what the
   * better level alone read, `better` which.
   */
  private mix:
    | { share: number; owed: number; link: number; hi: number; base: number; better: number; worse: number; judged: number; reads: number }
    | undefined;
  private windows = 0;
  private sent = 0;

  get level(): number {
    return this.current;
  }

  /** The level for the next block to compress: the current one, or in a mix, the next by its share. */
  pick(): number {
    const m = this.mix;
    if (!m) return this.current;
    m.owed += m.share;
    if (m.owed < 1) return this.current;
    m.owed--;
    return this.current + 1;
  }

  /** Learns from a block taken. */
  next(t: Taken): void {
    if (!t.stored && t.compressMs > 0) {
      rate(this.speed, t.level).add(t.read, t.compressMs);
      rate(this.ratio, t.level).add(t.read, Math.max(1, t.sent));
    }
    this.sent += t.sent;
    // Blocks of a level left behind are still in flight: they say nothing of this one.
    // The first level is judged sooner: on a fast link every block at the start is time lost.
    const [settle, window] = this.windows === 0 ? [1, EARLY] : [SETTLE, WINDOW];
    const mine = t.level === this.current || (this.mix !== undefined && t.level === this.current + 1);
    if (!mine || t.sinceLastMs <= 0 || ++this.run <= settle) return;
    this.window.read += t.read;
    this.window.sent += t.sent;
    this.window.ms += t.sinceLastMs;
    this.window.waited += Math.min(t.waitedMs, t.sinceLastMs);
    this.window.busy += t.compressMs;
    this.window.longest = Math.max(this.window.longest, t.sinceLastMs);
    const reads = this.window.read / this.window.ms;
    const worse = this.from !== undefined && this.run >= settle + EARLY && reads < CLEARLY_WORSE * this.from.reads;
    if (this.windows === 0 && this.sent <= BURST) {
      // While the socket's buffers still take what is sent, a link can look faster than it
      // is, never slower: a window of the first blocks where it limits is judged at once,
      // and one where compression limits is measured again, so the first judgement, at
      // the latest as the burst ends, takes the latest blocks, not those that filled them.
      if (this.run < settle + WINDOW) return;
      if (this.linkLimits(t.workers)) this.judge(reads, t.workers);
      else this.measureAgain(settle);
      return;
    }
    const ended = this.run >= settle + window && (this.windows === 0 || this.window.ms >= MIN_WINDOW_MS);
    if (ended || worse) this.judge(reads, t.workers);
  }

  /**
   * The send side hardly waited for blocks in this window: the link limits, not compression
   * or the input. Before the first judgement the Workers must have sat idle half of it too:
   * on two cores blocks come in pairs, one waited for and one not, and a few not waited for
   * in a row (the send side slow for a moment) come as fast as the Workers make them,
   * where blocks that a link holds back leave slower.
   */
  private linkLimits(workers: number): boolean {
    return (this.windows > 0 || this.workersIdle(workers)) && this.window.waited < WAITS * this.window.ms;
  }

  /** The Workers were busy less than half of this window's time. */
  private workersIdle(workers: number): boolean {
    return this.window.busy < IDLE * this.window.ms * workers;
  }

  /** A new window, after `run` blocks at the level (those let pass count as taken). */
  private measureAgain(run: number): void {
    this.run = run;
    this.window = emptyWindow();
  }

  private judge(reads: number, workers: number): void {
    const linkLimits = this.linkLimits(workers);
    this.windows++;
    const c = this.current;
    // One block of a whole window that took most of it, the send side never waiting: the receiver
    // stopped reading for a while (a lost packet's retransmits, a pause), which says nothing
    // of what the link carries. The window is measured again.
    if (linkLimits && this.run >= SETTLE + WINDOW && this.window.longest > STALL * this.window.ms) {
      this.measureAgain(0);
      return;
    }
    // Where the link limits, it carries what is read ÷ the level's ratio (in a mix, what was sent).
    const carried = this.mix ? this.window.sent / this.window.ms : reads / this.ratioAt(c);
    if (linkLimits) this.link = { carried, at: this.windows };
    else if (this.link) {
      // Where compression limits, the link carried at least what was sent. A measure far
      // below that was taken in a stall (a lost packet, a sink that paused) and says nothing.
      const sent = this.window.sent / this.window.ms;
      if (this.link.carried < CLEARLY_WORSE * sent) this.link = undefined;
      else this.link.carried = Math.max(this.link.carried, sent);
    }
    if (this.mix) {
      this.judgeMix(this.mix, reads, carried, linkLimits, workers);
      return;
    }
    const was = this.from;
    this.from = undefined;
    // A step between adjacent levels that found the link limiting below and compression
    // above: a mix of the two may read faster than either.
    if (was && Math.abs(was.level - c) === 1 && linkLimits === c < was.level) {
      const [linkReads, compressReads] = c < was.level ? [reads, was.reads] : [was.reads, reads];
      if (this.tryMix(Math.min(c, was.level), linkReads, compressReads, workers)) return;
    }
    // A level up where the link still limits reads more per byte it carries, whatever the
    // window before it read: a short one (the first) swings by 2x with the link's rhythm. A
    // step down where the link then limits measured the link: it says where to go, not the
    // level left (on a link whose buffers took the start, straight up to what it needs).
    if (was && reads < AS_FAST * was.reads && !(c !== was.level && linkLimits)) {
      this.backOff(was.level, c);
      this.move(was.level, undefined);
      return;
    }
    if (linkLimits) {
      // A level up would read what the link carries times its own ratio where its
      // compression keeps up with room, what its compression gives where that
      // is clearly the limit there, and either, counted short, at the edge between them.
      // The level that would read most wins, the higher where two tie, and none that would
      // read less than now: where no level keeps up, the nearest can still beat this one.
      let target = c;
      let best = reads;
      for (let l = c + 1; l <= MAX_LEVEL; l++) {
        const full = carried * this.ratioAt(l);
        const gives = this.compresses(l, workers);
        const would = gives >= ROOM * full ? full : gives * ROOM <= full ? gives * AS_FAST : Math.min(gives, full) / ROOM;
        if (would >= best && this.allowed(c, l)) [target, best] = [l, would];
      }
      // At the edge of what the next level compresses, a mix of the two may read faster.
      if (target <= c + 1 && c < MAX_LEVEL && this.tryMix(c, reads, this.compresses(c + 1, workers), workers)) return;
      // Back up to where a step down came from: that step was no gain (its first windows
      // read fast only while the socket's buffers took the extra bytes).
      if (this.down?.to === c && target === this.down.from) this.backOff(this.down.from, c);
      this.down = undefined;
      this.move(target, target > c ? reads : undefined);
    } else if (this.workersIdle(workers) && this.linkKnown() < Infinity) {
      // The input paused (the Workers sat idle) on a link that limits: no level reads faster.
      this.move(c, undefined);
    } else {
      // Compression limits here, and where the link was measured lately, a mix with the
      // level below may read faster than either.
      const link = this.linkKnown();
      if (c > MIN_LEVEL && link < Infinity && this.tryMix(c - 1, link * this.ratioAt(c - 1), reads, workers)) return;
      const step = c > MIN_LEVEL && this.allowed(c, c - 1) ? c - 1 : c;
      // Where the link was measured lately, a step down it would clearly carry slower is not
      // tried (storing on a slow link); one about as fast is: at the edge of what a level
      // compresses, what it reads swings with the window, and only the step tells.
      const slower = step < c && Math.min(this.compresses(step, workers), link * this.ratioAt(step)) < CLEARLY_WORSE * reads;
      if (slower) this.backOff(c, step);
      const to = slower ? c : step;
      this.down = to < c ? { from: c, to } : undefined;
      this.move(to, reads);
    }
  }

  /** What the link carried where it was measured lately; where not, no limit. */
  private linkKnown(): number {
    return this.link && this.windows - this.link.at <= LINK_KNOWN ? this.link.carried : Infinity;
  }

  /** A move from `from` to `to` that did not pay: it waits twice as long as before to be tried again. */
  private backOff(from: number, to: number): void {
    const key = `${from}>${to}`;
    const u = this.undone.get(key) ?? { times: 0, until: 0 };
    u.times++;
    u.until = this.windows + BACKOFF * 2 ** u.times;
    this.undone.set(key, u);
  }

  private allowed(from: number, to: number): boolean {
    return this.windows >= (this.undone.get(`${from}>${to}`)?.until ?? 0);
  }

  /** To `level` (or staying), judged against `reads` (the level left's) where there is a move to judge. */
  private move(level: number, reads: number | undefined): void {
    this.from = reads === undefined || level === this.current ? undefined : { level: this.current, reads };
    this.current = level;
    this.measureAgain(0);
  }

  /**
   * Where the link limits at `lo` (it reads `linkReads` there) and compression at `lo + 1`
   * (its Workers read `hiReads`), a mix of the two, taken where it should read clearly
   * faster than either level alone.
   */
  private tryMix(lo: number, linkReads: number, hiReads: number, workers: number): boolean {
    // A mix that did not pay backs off as a move of its own, from `lo` to halfway up.
    if (!this.allowed(lo, lo + 0.5)) return false;
    const m = { share: 0, owed: 0, link: linkReads / this.ratioAt(lo), hi: hiReads, worse: 0, judged: 0, reads: 0 };
    m.share = this.balance(lo, m, workers);
    const vLo = this.compresses(lo, workers);
    const base = Math.max(linkReads, hiReads);
    // Blocks leave in order, a few in flight: an upper one that takes its Worker longer than
    // the link takes to send those behind it holds the link up.
    const inOrder = hiReads * (workers + 1) >= workers * linkReads;
    if (!inOrder || !(m.share > 0 && m.share < 1) || 1 / (m.share / hiReads + (1 - m.share) / vLo) < MIX_GAIN * base) return false;
    this.down = undefined;
    this.mix = { ...m, base, better: linkReads >= hiReads ? lo : lo + 1 };
    this.move(lo, undefined);
    return true;
  }

  /**
   * The share of blocks at `lo + 1` that makes compression and the link take equally long
   * per byte read: with V a level's compression (at the upper one, `hi`; at the lower, its
   * measure) and r its ratio, s ÷ V_hi + (1 − s) ÷ V_lo = (s ÷ r_hi + (1 − s) ÷ r_lo) ÷ link.
   */
  private balance(lo: number, m: { link: number; hi: number }, workers: number): number {
    const vLo = this.compresses(lo, workers);
    const [rLo, rHi] = [this.ratioAt(lo), this.ratioAt(lo + 1)];
    const linkLo = 1 / (rLo * m.link);
    return (linkLo - 1 / vLo) / (1 / m.hi - 1 / vLo + linkLo - 1 / (rHi * m.link));
  }

  /**
   * A window of the mix measures the end that limits it and moves the share to where the
   * ends meet, out of the mix at either end. A mix that reads slower than the better level
   * alone two windows running is left for it, as is one that has read no faster on average
   * from its fourth window on (where the two levels are about as fast, the share swings and
   * its stored blocks cost the link); either is tried again only after twice as long.
   */
  private judgeMix(m: NonNullable<LevelControl["mix"]>, reads: number, carried: number, linkLimits: boolean, workers: number): void {
    const c = this.current;
    m.worse = reads < AS_FAST * m.base ? m.worse + 1 : 0;
    m.judged++;
    m.reads += reads;
    if (m.worse >= 2 || (m.judged >= MIX_TRIAL && m.reads / m.judged < m.base)) {
      this.backOff(c, c + 0.5);
      this.mix = undefined;
      this.move(m.better, undefined);
      return;
    }
    // The Workers read `reads` in the mix, or more where the link limits: what that says of the upper level.
    const slowLo = (1 - m.share) / this.compresses(c, workers);
    const hi = 1 / reads > slowLo ? m.share / (1 / reads - slowLo) : Infinity;
    if (linkLimits) [m.link, m.hi] = [carried, Math.max(m.hi, hi)];
    else [m.link, m.hi] = [Math.max(m.link, carried), hi];
    // Ends measured alike (a level whose ratio and speed are the next one's) say nothing of the share.
    const meet = this.balance(c, m, workers);
    const to = Number.isFinite(meet) ? meet : m.share;
    m.share = linkLimits ? Math.max(to, m.share + MIX_NUDGE) : Math.min(to, m.share - MIX_NUDGE);
    if (m.share <= 0 || m.share >= 1) this.mix = undefined;
    this.move(m.share >= 1 ? c + 1 : c, undefined);
  }

  /** What all the Workers would compress at `level`, input bytes per ms. */
  private compresses(level: number, workers: number): number {
    return workers * this.estimate(this.speed, PRIOR_SPEED, level);
  }

  /** Input bytes per byte sent at `level`. */
  private ratioAt(level: number): number {
    return this.estimate(this.ratio, PRIOR_RATIO, level);
  }

  /**
   * A level's measure, or the nearest measured level's scaled by the priors' shape; the
   * prior where none is. Level 0 stores: a copy, at a ratio of 1.
   */
  private estimate(measured: Map<number, Rate>, prior: number[], level: number): number {
    if (level === 0) return prior === PRIOR_SPEED ? Infinity : 1;
    const own = measured.get(level)?.value;
    if (own !== undefined) return own;
    let near: number | undefined;
    for (const [l, r] of measured)
      if (l > 0 && r.value !== undefined && (near === undefined || Math.abs(l - level) < Math.abs(near - level))) near = l;
    const p = prior[level] as number;
    // Unscaled priors are MB/s as bytes per ms: 1 MB/s = 1000 bytes per ms.
    if (near === undefined) return prior === PRIOR_SPEED ? p * 1000 : p;
    return ((measured.get(near)?.value as number) * p) / (prior[near] as number);
  }
}

/** A window's sums: what its timed blocks read and sent, its time, the send side's waits, the Workers' time, its longest block. */
function emptyWindow() {
  return { read: 0, ms: 0, waited: 0, busy: 0, sent: 0, longest: 0 };
}

function rate(rates: Map<number, Rate>, level: number): Rate {
  const r = rates.get(level) ?? new Rate();
  rates.set(level, r);
  return r;
}
