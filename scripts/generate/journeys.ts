/**
 * Customers and their journeys. Each customer has long-term tastes (a price band, two body
 * styles, three makes) and a current *focus* (a model in a price band). Sessions browse inside
 * the focus (same model, same make and body style, same body style — all in the band), so
 * co-engagement has structure. The focus persists across close sessions and drifts otherwise,
 * half the time away from the long-term tastes, so recent sessions predict the next vehicle
 * better than all-time favourites. Funnel: views → favorite → lead → test drive → purchase;
 * a purchase ends the journey and sells the vehicle.
 */
import type { EventType, SearchFilters } from '../../shared/domain/event.js';
import { PRICE_BANDS } from '../../shared/features/event-weights.js';
import { BODY_STYLES, MAKES, STORES } from './catalog-data.js';
import { BAND_COUNT, DAY_MS, type Inventory, type Pools } from './inventory.js';
import { Prng, WeightedPicker } from './prng.js';

const HOUR_MS = 3600 * 1000;
/** Sessions by UTC hour (US evenings are 00–04 UTC). */
const HOUR_WEIGHTS = [9, 8, 7, 5, 3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 7, 7, 7, 8, 8, 8, 9, 9];
/** Customers' long-term price band shares. */
const BAND_WEIGHTS = [12, 28, 28, 19, 13];
const BAND_MID = [11_000, 20_000, 30_000, 42_000, 70_000];
const FAVS = 3;

/** Receives every event the simulation produces (ids < 0 = absent; ms = epoch ms UTC). */
export type EmitFn = (type: EventType, customer: number, vehicle: number, session: number, ms: number, properties: string | null) => void;

/** Tuning knobs of the journeys (defaults are what the tests and figures were measured with). */
export const JOURNEY = {
  meanExtraSessions: 2.3,
  sameDayGapShare: 0.3,
  meanDaysBetweenSessions: 2.5,
  keepFocusSameDay: 0.95,
  /** Keeping the focus on a later day: `base + perSession × sessions so far`, at most `max` (interest narrows). */
  keepFocusLaterBase: 0.35,
  keepFocusLaterPerSession: 0.2,
  keepFocusLaterMax: 0.7,
  /** Shares of views on the focus model, on its make and body style, the rest on its body style. */
  sameModelShare: 0.55,
  sameMakeShare: 0.35,
  /** Sessions before interest narrows: these spread views wider across makes. */
  broadSessions: 2,
  /** Share of new foci away from the long-term tastes: early (broad) sessions explore more. */
  exploreShareBroad: 0.75,
  exploreShareNarrow: 0.35,
  searchShare: 0.62,
  /** Views per session: early sessions browse a lot, later ones fewer and deeper. */
  meanExtraViewsBroad: 8,
  meanExtraViewsNarrow: 3.5,
  revisitShare: 0.12,
  favoriteRate: 0.065,
  hideRate: 0.012,
  leadFromFavorite: 0.11,
} as const;

export class Customers {
  readonly count: number;
  readonly tasteBand: Int8Array;
  readonly tasteBody: Uint8Array;
  readonly tasteMake: Int16Array;
  readonly home: Int16Array;
  readonly focusModel: Int16Array;
  readonly focusBand: Int8Array;
  readonly lastSessionMs: Float64Array;
  /** 0 browsing, 1 lead sent, 2 test-driven, 3 purchased (journey over). */
  readonly stage: Uint8Array;
  readonly sessionsSoFar: Uint8Array;
  readonly deal: Int32Array;
  readonly favs: Int32Array;
  readonly favNext: Uint8Array;

  private readonly bodyPicker: WeightedPicker;
  private readonly makePickers: WeightedPicker[];
  private readonly modelPickers: (WeightedPicker | undefined)[];
  private readonly modelsByMakeBody: number[][];

  constructor(
    private readonly rng: Prng,
    private readonly inv: Inventory,
    private readonly pools: Pools,
    count: number,
    private readonly endYear: number,
  ) {
    this.count = count;
    const models = inv.models;
    const makeCount = MAKES.length;
    const bodies = BODY_STYLES.length;
    // Pickers: body style by total popularity; make by (body, band) fit; model by (make, body).
    const bodyW = new Float64Array(bodies);
    for (let mi = 0; mi < models.model.length; mi++) bodyW[models.body[mi] as number] += models.popularity[mi] as number;
    this.bodyPicker = new WeightedPicker(bodyW);
    this.modelsByMakeBody = Array.from({ length: makeCount * bodies }, () => []);
    for (let mi = 0; mi < models.model.length; mi++) this.modelsByMakeBody[(models.makeIndex[mi] as number) * bodies + (models.body[mi] as number)]!.push(mi);
    this.modelPickers = this.modelsByMakeBody.map((list) => (list.length ? new WeightedPicker(list.map((mi) => models.popularity[mi] as number)) : undefined));
    this.makePickers = [];
    for (let body = 0; body < bodies; body++) {
      for (let band = 0; band < BAND_COUNT; band++) {
        const w = new Float64Array(makeCount);
        for (let mk = 0; mk < makeCount; mk++) {
          for (const mi of this.modelsByMakeBody[mk * bodies + body]!) {
            const r = Math.log((0.7 * (models.msrp[mi] as number)) / (BAND_MID[band] as number));
            w[mk] += (models.popularity[mi] as number) * (0.02 + Math.exp(-(r * r) / (2 * 0.4 * 0.4)));
          }
        }
        this.makePickers.push(new WeightedPicker(w));
      }
    }

    this.tasteBand = new Int8Array(count);
    this.tasteBody = new Uint8Array(count * 2);
    this.tasteMake = new Int16Array(count * 3);
    this.home = new Int16Array(count);
    this.focusModel = new Int16Array(count).fill(-1);
    this.focusBand = new Int8Array(count);
    this.lastSessionMs = new Float64Array(count);
    this.stage = new Uint8Array(count);
    this.sessionsSoFar = new Uint8Array(count);
    this.deal = new Int32Array(count).fill(-1);
    this.favs = new Int32Array(count * FAVS).fill(-1);
    this.favNext = new Uint8Array(count);
    const bandPicker = new WeightedPicker(BAND_WEIGHTS);
    const storePicker = new WeightedPicker(STORES.map((s) => s.weight));
    for (let c = 0; c < count; c++) {
      const band = bandPicker.pick(rng);
      const body = this.bodyPicker.pick(rng);
      this.tasteBand[c] = band;
      this.tasteBody[c * 2] = body;
      this.tasteBody[c * 2 + 1] = rng.chance(0.5) ? body : this.bodyPicker.pick(rng);
      const makes = this.makePickers[body * BAND_COUNT + band]!;
      for (let k = 0; k < 3; k++) this.tasteMake[c * 3 + k] = makes.pick(rng);
      this.home[c] = storePicker.pick(rng);
    }
  }

  /** Session start times of every customer's journey inside [startMs, endMs), sorted by time. */
  planSessions(startMs: number, days: number): { start: Float64Array; customer: Int32Array } {
    const rng = this.rng;
    const endMs = startMs + days * DAY_MS;
    const hourPicker = new WeightedPicker(HOUR_WEIGHTS);
    const starts: number[] = [];
    const custs: number[] = [];
    const at = (day: number) => startMs + day * DAY_MS + hourPicker.pick(rng) * HOUR_MS + Math.floor(rng.next() * HOUR_MS);
    for (let c = 0; c < this.count; c++) {
      let t = at(rng.int(days));
      const n = 1 + Math.min(24, rng.geometric(JOURNEY.meanExtraSessions));
      for (let k = 0; k < n && t < endMs; k++) {
        starts.push(t);
        custs.push(c);
        if (rng.chance(JOURNEY.sameDayGapShare)) t += Math.round(rng.range(0.5, 5) * HOUR_MS);
        else t = at(Math.floor((t - startMs) / DAY_MS) + 1 + Math.floor(rng.exponential(JOURNEY.meanDaysBetweenSessions)));
      }
    }
    const order = Int32Array.from(starts.keys()).sort((a, b) => (starts[a] as number) - (starts[b] as number) || a - b);
    const start = new Float64Array(order.length);
    const customer = new Int32Array(order.length);
    order.forEach((i, k) => {
      start[k] = starts[i] as number;
      customer[k] = custs[i] as number;
    });
    return { start, customer };
  }

  private newFocus(c: number, broad: boolean): void {
    const rng = this.rng;
    const models = this.inv.models;
    const explore = rng.chance(broad ? JOURNEY.exploreShareBroad : JOURNEY.exploreShareNarrow);
    let band = this.tasteBand[c] as number;
    if (rng.chance(explore ? 0.5 : 0.15)) band = Math.min(BAND_COUNT - 1, Math.max(0, band + (rng.chance(0.5) ? 1 : -1)));
    let body: number;
    let make: number;
    if (!explore) {
      body = this.tasteBody[c * 2 + (rng.chance(0.7) ? 0 : 1)] as number;
      make = this.tasteMake[c * 3 + rng.int(3)] as number;
      if (!this.modelPickers[make * BODY_STYLES.length + body]) make = this.makePickers[body * BAND_COUNT + band]!.pick(rng);
    } else {
      body = this.bodyPicker.pick(rng);
      make = this.makePickers[body * BAND_COUNT + band]!.pick(rng);
    }
    const picker = this.modelPickers[make * BODY_STYLES.length + body];
    const list = this.modelsByMakeBody[make * BODY_STYLES.length + body]!;
    const model = picker ? (list[picker.pick(rng)] as number) : (rng.int(models.model.length));
    // Narrow to the band only when the pool there is worth browsing.
    this.focusModel[c] = model;
    this.focusBand[c] = this.pools.make(models.makeIndex[model] as number, models.body[model] as number, band).length >= 4 ? band : -1;
  }

  /** A vehicle for sale at `ms` inside the customer's focus, or -1. */
  private choose(c: number, ms: number, broad: boolean): number {
    const rng = this.rng;
    const inv = this.inv;
    const model = this.focusModel[c] as number;
    const band = this.focusBand[c] as number;
    const mk = inv.models.makeIndex[model] as number;
    const body = inv.models.body[model] as number;
    // Early (broad) sessions spend more views on other makes of the body style.
    const r = broad && rng.chance(0.4) ? 1 - 0.15 * rng.next() : rng.next();
    const p = this.pools;
    let v: number;
    if (r < JOURNEY.sameModelShare) {
      if ((v = this.pick(p.model(model, band), ms)) >= 0 || (v = this.pick(p.make(mk, body, band), ms)) >= 0 || (v = this.pick(p.model(model, -1), ms)) >= 0) return v;
      return this.pick(p.body(body, band), ms);
    }
    if (r < JOURNEY.sameModelShare + JOURNEY.sameMakeShare) {
      if ((v = this.pick(p.make(mk, body, band), ms)) >= 0 || (v = this.pick(p.model(model, band), ms)) >= 0 || (v = this.pick(p.make(mk, body, -1), ms)) >= 0) return v;
      return this.pick(p.body(body, band), ms);
    }
    if ((v = this.pick(p.body(body, band), ms)) >= 0 || (v = this.pick(p.make(mk, body, band), ms)) >= 0) return v;
    return this.pick(p.body(body, -1), ms);
  }

  /** Up to 16 draws from `pool`: a vehicle for sale at `ms`, accepted with its attractiveness; else -1. */
  private pick(pool: Int32Array, ms: number): number {
    if (pool.length === 0) return -1;
    const rng = this.rng;
    const inv = this.inv;
    for (let tries = 0; tries < 16; tries++) {
      const v = pool[rng.int(pool.length)] as number;
      if (inv.available(v, ms) && rng.next() < (inv.attract[v] as number)) return v;
    }
    return -1;
  }

  private searchProps(c: number): string {
    const rng = this.rng;
    const inv = this.inv;
    const model = this.focusModel[c] as number;
    const band = this.focusBand[c] as number;
    const make = inv.models.make[model] as string;
    const f: SearchFilters = {};
    if (rng.chance(0.85)) f.bodyStyle = BODY_STYLES[inv.models.body[model] as number];
    if (rng.chance(0.5)) {
      f.make = make;
      if (rng.chance(0.35)) f.model = inv.models.model[model];
    }
    if (band >= 0 && rng.chance(0.6)) {
      const b = PRICE_BANDS[band]!;
      f.priceMax = Number.isFinite(b.max) ? b.max : 150_000;
      if (b.min > 0 && rng.chance(0.3)) f.priceMin = b.min;
    }
    if (rng.chance(0.15)) f.yearMin = this.endYear - 4;
    if (rng.chance(0.1)) f.mileageMax = 60_000;
    if (rng.chance(0.25)) f.location = STORES[this.home[c] as number]!.city;
    if (Object.keys(f).length === 0) f.bodyStyle = BODY_STYLES[inv.models.body[model] as number];
    const query = rng.chance(0.25) ? `${make} ${inv.models.model[model]}`.toLowerCase() : undefined;
    return JSON.stringify(query ? { filters: f, query } : { filters: f });
  }

  /**
   * Simulates one session of customer `c` starting at `startMs`. Sessions must be simulated in
   * start-time order (a purchase moves the vehicle's sale time, which later sessions observe).
   */
  simulateSession(c: number, session: number, startMs: number, emit: EmitFn): void {
    const rng = this.rng;
    const inv = this.inv;
    if (this.stage[c] === 3) return;
    let t = startMs;
    const step = () => {
      t += 4000 + Math.round(rng.exponential(40_000));
    };
    const engage = (type: EventType, v: number, props: string | null = null): boolean => {
      if (!inv.available(v, t)) return false;
      emit(type, c, v, session, t, props);
      if ((inv.lastEngagedMs[v] as number) < t) inv.lastEngagedMs[v] = t;
      return true;
    };
    const purchase = (v: number) => {
      const price = inv.priceAt(v, t);
      if (!engage('purchase', v, JSON.stringify({ price }))) return false;
      const sold = inv.sell(v, t, rng);
      emit('vehicle_sold', -1, v, -1, sold, JSON.stringify({ price }));
      this.stage[c] = 3;
      return true;
    };

    // Focus: kept across close sessions, drifts across distant ones.
    const gap = startMs - (this.lastSessionMs[c] as number);
    const n = this.sessionsSoFar[c] as number;
    if (n < 255) this.sessionsSoFar[c] = n + 1;
    const keepLater = Math.min(JOURNEY.keepFocusLaterMax, JOURNEY.keepFocusLaterBase + JOURNEY.keepFocusLaterPerSession * n);
    const keep = this.focusModel[c]! >= 0 && rng.chance(gap < 20 * HOUR_MS ? JOURNEY.keepFocusSameDay : keepLater);
    const broad = n < JOURNEY.broadSessions;
    if (!keep) this.newFocus(c, broad);

    // A pending deal: come back to the vehicle, test-drive it, buy it.
    const deal = this.deal[c] as number;
    if (this.stage[c]! > 0 && deal >= 0) {
      if (!inv.available(deal, t)) {
        this.stage[c] = 0;
        this.deal[c] = -1;
      } else if (rng.chance(0.6)) {
        engage('view', deal);
        step();
        if (this.stage[c] === 1) {
          if (rng.chance(0.55)) {
            if (engage('test_drive', deal, JSON.stringify({ channel: 'store' }))) {
              this.stage[c] = 2;
              step();
              if (rng.chance(0.2) && purchase(deal)) return void (this.lastSessionMs[c] = t);
            }
          } else if (rng.chance(0.25)) {
            this.stage[c] = 0;
            this.deal[c] = -1;
          }
        } else if (rng.chance(0.45)) {
          if (purchase(deal)) return void (this.lastSessionMs[c] = t);
        } else if (rng.chance(0.3)) {
          this.stage[c] = 0;
          this.deal[c] = -1;
        }
      }
    }

    // Browse inside the focus.
    const seen: number[] = [];
    if (rng.chance(JOURNEY.searchShare)) {
      emit('search', c, -1, session, t, this.searchProps(c));
      step();
    }
    const views = 1 + Math.min(39, rng.geometric(broad ? JOURNEY.meanExtraViewsBroad : JOURNEY.meanExtraViewsNarrow));
    for (let i = 0; i < views; i++) {
      if (i === 3 && rng.chance(0.15)) {
        emit('search', c, -1, session, t, this.searchProps(c));
        step();
      }
      const v = seen.length > 0 && rng.chance(JOURNEY.revisitShare) ? (seen[rng.int(seen.length)] as number) : this.choose(c, t, broad);
      if (v < 0 || !engage('view', v)) continue;
      seen.push(v);
      t += 1000 + rng.int(20_000);
      if (rng.chance(JOURNEY.favoriteRate * (0.4 + (inv.attract[v] as number)))) {
        if (engage('favorite', v)) {
          this.favs[c * FAVS + (this.favNext[c] as number)] = v;
          this.favNext[c] = ((this.favNext[c] as number) + 1) % FAVS;
        }
      } else if (rng.chance(JOURNEY.hideRate)) {
        engage('hide', v);
      }
      step();
    }
    if (rng.chance(0.03)) {
      const k = c * FAVS + (this.favNext[c] as number);
      const old = this.favs[k] as number;
      if (old >= 0 && engage('unfavorite', old)) this.favs[k] = -1;
    }

    // Contact the dealer about a favourite (or, rarely, something just seen).
    if (this.stage[c] === 0) {
      let lead = -1;
      if (rng.chance(JOURNEY.leadFromFavorite)) {
        for (let k = 1; k <= FAVS; k++) {
          const v = this.favs[c * FAVS + (((this.favNext[c] as number) - k + FAVS) % FAVS)] as number;
          if (v >= 0 && inv.available(v, t)) {
            lead = v;
            break;
          }
        }
      } else if (seen.length > 0 && rng.chance(0.008)) {
        lead = seen[rng.int(seen.length)] as number;
      }
      if (lead >= 0 && engage('lead', lead, JSON.stringify({ channel: rng.chance(0.7) ? 'web' : 'phone' }))) {
        this.stage[c] = 1;
        this.deal[c] = lead;
      }
    }
    this.lastSessionMs[c] = t;
  }
}
