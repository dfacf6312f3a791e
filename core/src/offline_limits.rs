//! Offline limits: how long, and for how much, a register may sell while the server has not
//! acknowledged its sales (a store's settings, cached with its catalogue). It checks and
//! counts inside the sale's own transaction; a refusal comes before anything is written, and it
//! never talks to the network.
//!
//! **The window.** A sale is an *offline sale* when, as it completes, the register is out of
//! contact with the server (the sync engine has had no answer since it started, or its last
//! request got none, or the app reported no network: the amber "Offline" pill) or an offline
//! window is already open. The first offline sale opens the store's window; every sale after
//! it counts in the window until the server has acknowledged every sale of the store on this
//! device (nothing left pending; the verdicts' transaction closes it). A partial drain leaves
//! it open and its totals as they were.
//!
//! **Its clock.** The window's offline time is kept in the database as a checkpoint (time
//! counted so far, and the wall and boot clocks then), moved by every sale in the window. The
//! time since the checkpoint is the larger of what the wall clock and the boot clock
//! (`time::boot_ms`, counting sleep, immune to clock changes) say has passed, never less than
//! zero: setting the clock back never lengthens the window, a restart keeps it, and a clock
//! set forward (or corrected forward) only brings the limit closer.

use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits::MAX_AMOUNT;

/// A tender the limits tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tender {
    Card,
    Cash,
}

/// One tender's limits while offline; an absent limit is no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenderLimits {
    /// Longest an offline window may have been open for a sale to take this tender, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_offline_secs: Option<u64>,
    /// Largest amount of this tender in one offline sale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sale: Option<Decimal>,
    /// Largest total of this tender over the sales of one offline window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total: Option<Decimal>,
}

impl TenderLimits {
    fn is_empty(&self) -> bool {
        self.max_offline_secs.is_none() && self.max_sale.is_none() && self.max_total.is_none()
    }
}

/// A store's offline limits as the catalogue carries them (`offline_limits`). A tender or a
/// field that is absent has no limit; fields this app does not know are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineLimits {
    /// Card payments (on the external terminal).
    #[serde(default)]
    pub card: TenderLimits,
    /// Cash: its own limits, or none.
    #[serde(default)]
    pub cash: TenderLimits,
}

/// Longest offline time a limit may name: ten years, in seconds (beyond that is no limit).
pub const MAX_OFFLINE_SECS: u64 = 10 * 366 * 24 * 3600;

impl OfflineLimits {
    /// The limits of one tender.
    pub fn of(&self, tender: Tender) -> &TenderLimits {
        match tender {
            Tender::Card => &self.card,
            Tender::Cash => &self.cash,
        }
    }

    /// True when no limit is set at all.
    pub fn is_empty(&self) -> bool {
        self.card.is_empty() && self.cash.is_empty()
    }

    /// Refuses what no limit can mean: a negative amount, one beyond `MAX_AMOUNT`, an offline
    /// time beyond `MAX_OFFLINE_SECS`. Zero is allowed: that tender is refused offline. The
    /// device (on import) and the server (before storing) run this same check.
    pub fn validate(&self) -> Result<()> {
        for tender in [Tender::Card, Tender::Cash] {
            let l = self.of(tender);
            if l.max_offline_secs.is_some_and(|s| s > MAX_OFFLINE_SECS) {
                return Err(Error::invalid(format!(
                    "{} max_offline_secs is beyond {MAX_OFFLINE_SECS}",
                    tender.name()
                )));
            }
            for (field, v) in [("max_sale", l.max_sale), ("max_total", l.max_total)] {
                if v.is_some_and(|v| v.is_sign_negative() || v > MAX_AMOUNT) {
                    return Err(Error::invalid(format!(
                        "{} {field} must be from 0 to {MAX_AMOUNT}",
                        tender.name()
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Tender {
    fn name(self) -> &'static str {
        match self {
            Tender::Card => "card",
            Tender::Cash => "cash",
        }
    }
}

/// Which limit: its tender and what it bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfflineLimit {
    /// `card.max_offline_secs`.
    CardOfflineTime,
    /// `card.max_sale`.
    CardSale,
    /// `card.max_total`.
    CardTotal,
    /// `cash.max_offline_secs`.
    CashOfflineTime,
    /// `cash.max_sale`.
    CashSale,
    /// `cash.max_total`.
    CashTotal,
}

impl OfflineLimit {
    /// The tender it limits.
    pub fn tender(self) -> Tender {
        match self {
            OfflineLimit::CardOfflineTime | OfflineLimit::CardSale | OfflineLimit::CardTotal => {
                Tender::Card
            }
            _ => Tender::Cash,
        }
    }

    /// Its name in the settings and the protocol (`card_total`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OfflineLimit::CardOfflineTime => "card_offline_time",
            OfflineLimit::CardSale => "card_sale",
            OfflineLimit::CardTotal => "card_total",
            OfflineLimit::CashOfflineTime => "cash_offline_time",
            OfflineLimit::CashSale => "cash_sale",
            OfflineLimit::CashTotal => "cash_total",
        }
    }

    /// What it bounds, in words for a message.
    pub fn describe(self) -> &'static str {
        match self {
            OfflineLimit::CardOfflineTime => "time selling offline with card",
            OfflineLimit::CardSale => "card amount of one offline sale",
            OfflineLimit::CardTotal => "total of card sales offline",
            OfflineLimit::CashOfflineTime => "time selling offline with cash",
            OfflineLimit::CashSale => "cash amount of one offline sale",
            OfflineLimit::CashTotal => "total of cash sales offline",
        }
    }

    fn time(tender: Tender) -> Self {
        match tender {
            Tender::Card => OfflineLimit::CardOfflineTime,
            Tender::Cash => OfflineLimit::CashOfflineTime,
        }
    }

    fn sale(tender: Tender) -> Self {
        match tender {
            Tender::Card => OfflineLimit::CardSale,
            Tender::Cash => OfflineLimit::CashSale,
        }
    }

    fn total(tender: Tender) -> Self {
        match tender {
            Tender::Card => OfflineLimit::CardTotal,
            Tender::Cash => OfflineLimit::CashTotal,
        }
    }
}

impl std::fmt::Display for OfflineLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A limit's figure: offline time or money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Milliseconds offline.
    Millis(u64),
    /// An amount in the store's currency.
    Money(Decimal),
}

impl std::fmt::Display for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Measure::Money(d) => write!(f, "{d}"),
            Measure::Millis(ms) => {
                let s = ms / 1000;
                let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
                if h > 0 {
                    write!(f, "{h}h{m:02}m{s:02}s")
                } else if m > 0 {
                    write!(f, "{m}m{s:02}s")
                } else {
                    write!(f, "{s}s")
                }
            }
        }
    }
}

/// The store's open offline window on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineWindow {
    /// Device wall clock when its first sale completed (Unix ms; for display only).
    pub opened_at: i64,
    /// How long it has been open, counted as the module says (never from `opened_at`).
    pub offline_ms: u64,
    /// Card paid in its sales.
    pub card_total: Decimal,
    /// Cash kept in its sales (after change and cash rounding).
    pub cash_total: Decimal,
    /// Sales in it.
    pub sales: u64,
}

impl OfflineWindow {
    fn total(&self, tender: Tender) -> Decimal {
        match tender {
            Tender::Card => self.card_total,
            Tender::Cash => self.cash_total,
        }
    }
}

/// A limit that is near (at least the configured share of it used) or reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitWarning {
    /// Which limit.
    pub limit: OfflineLimit,
    /// How much of it the window has used.
    pub used: Measure,
    /// The limit.
    pub max: Measure,
    /// Used in whole percent of the limit (rounded down; 100 when the limit is 0).
    pub percent: u32,
    /// Nothing more of that tender can be sold offline in this window.
    pub reached: bool,
}

/// What the status shows of the offline limits for the session's store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OfflineStatus {
    /// The store's limits as cached with its catalogue (empty: none).
    pub limits: OfflineLimits,
    /// The open window, if any.
    pub window: Option<OfflineWindow>,
    /// Limits near or reached in the open window, reached ones first.
    pub warnings: Vec<LimitWarning>,
    /// Largest card amount an offline sale may take now; `None`: no limit.
    pub card_headroom: Option<Decimal>,
    /// Largest cash amount an offline sale may take now; `None`: no limit.
    pub cash_headroom: Option<Decimal>,
}

impl OfflineStatus {
    /// The headroom of one tender.
    pub fn headroom(&self, tender: Tender) -> Option<Decimal> {
        match tender {
            Tender::Card => self.card_headroom,
            Tender::Cash => self.cash_headroom,
        }
    }

    /// How long until a time limit next becomes near or reached (for a timely status).
    pub fn next_change_in_ms(&self, warn_percent: u8) -> Option<u64> {
        let window = self.window.as_ref()?;
        [Tender::Card, Tender::Cash]
            .into_iter()
            .filter_map(|t| self.limits.of(t).max_offline_secs)
            .flat_map(|secs| {
                let max = secs.saturating_mul(1000);
                [near_threshold_ms(max, warn_percent), max]
            })
            .filter(|at| *at > window.offline_ms)
            .map(|at| at - window.offline_ms)
            .min()
    }
}

fn near_threshold_ms(max_ms: u64, warn_percent: u8) -> u64 {
    // Rounded up, so "near" never shows before the share is really used.
    (u128::from(max_ms) * u128::from(warn_percent)).div_ceil(100) as u64
}

/// A reading of both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// Wall clock, Unix ms.
    pub wall_ms: i64,
    /// Boot clock, ms since boot (`time::boot_ms`).
    pub boot_ms: Option<i64>,
}

impl Reading {
    /// Both clocks now.
    pub fn now() -> Self {
        Reading {
            wall_ms: crate::time::now_ms(),
            boot_ms: crate::time::boot_ms(),
        }
    }
}

/// The persisted window: its checkpoint and totals.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    opened_at: i64,
    offline_ms: u64,
    wall_at: i64,
    boot_at: Option<i64>,
    card_total: Decimal,
    cash_total: Decimal,
    sales: u64,
}

/// Time passed since a checkpoint taken at `wall_at`/`boot_at`: the larger of the two
/// clocks' differences, never negative. A boot clock below the checkpoint's means the device
/// restarted since; then only the wall clock can tell.
pub fn passed_since(wall_at: i64, boot_at: Option<i64>, now: Reading) -> u64 {
    let wall = now.wall_ms.saturating_sub(wall_at);
    let boot = match (boot_at, now.boot_ms) {
        (Some(then), Some(now)) if now >= then => now - then,
        _ => 0,
    };
    u64::try_from(wall.max(boot)).unwrap_or(0)
}

impl Row {
    fn window(&self, now: Reading) -> OfflineWindow {
        OfflineWindow {
            opened_at: self.opened_at,
            offline_ms: self.offline_ms.saturating_add(passed_since(
                self.wall_at,
                self.boot_at,
                now,
            )),
            card_total: self.card_total,
            cash_total: self.cash_total,
            sales: self.sales,
        }
    }
}

fn money(s: &str) -> rusqlite::Result<Decimal> {
    s.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn load_row(conn: &Connection, store_id: &str) -> Result<Option<Row>> {
    Ok(conn
        .prepare_cached(
            "SELECT opened_at, offline_ms, wall_at, boot_at, card_total, cash_total, sales
             FROM offline_window WHERE store_id = ?1",
        )?
        .query_row([store_id], |r| {
            Ok(Row {
                opened_at: r.get(0)?,
                offline_ms: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                wall_at: r.get(2)?,
                boot_at: r.get(3)?,
                card_total: money(&r.get::<_, String>(4)?)?,
                cash_total: money(&r.get::<_, String>(5)?)?,
                sales: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
            })
        })
        .optional()?)
}

/// The store's limits as cached with its catalogue (none when the catalogue carried none).
pub fn store_limits(conn: &Connection, store_id: &str) -> Result<OfflineLimits> {
    let json: Option<Option<String>> = conn
        .prepare_cached("SELECT offline_limits FROM stores WHERE store_id = ?1")?
        .query_row([store_id], |r| r.get(0))
        .optional()?;
    Ok(match json.flatten() {
        Some(j) => serde_json::from_str(&j)?,
        None => OfflineLimits::default(),
    })
}

/// Stores the limits a catalogue carried (inside the import's transaction). `None` in a
/// snapshot means the server sent none (an older server): no limits. `None` in a delta keeps
/// what the device has.
pub(crate) fn cache_limits(
    tx: &Connection,
    store_id: &str,
    limits: Option<&OfflineLimits>,
    snapshot: bool,
) -> Result<()> {
    match limits {
        Some(l) => {
            let json = (!l.is_empty())
                .then(|| serde_json::to_string(l))
                .transpose()?;
            tx.execute(
                "UPDATE stores SET offline_limits = ?2 WHERE store_id = ?1",
                params![store_id, json],
            )?;
        }
        None if snapshot => {
            tx.execute(
                "UPDATE stores SET offline_limits = NULL WHERE store_id = ?1",
                [store_id],
            )?;
        }
        None => {}
    }
    Ok(())
}

/// What one sale takes of each tender: card paid, and cash kept (after change and rounding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tenders {
    pub card: Decimal,
    pub cash: Decimal,
}

impl Tenders {
    fn of(&self, tender: Tender) -> Decimal {
        match tender {
            Tender::Card => self.card,
            Tender::Cash => self.cash,
        }
    }
}

/// The window as it stands once an admitted sale commits; written by [`record`].
#[derive(Debug)]
pub(crate) struct Admitted {
    store_id: String,
    row: Row,
}

/// Checks a sale against the store's limits, inside its transaction and before anything is
/// written. `Ok(None)`: not an offline sale (in contact, no window open), nothing to count.
/// A refusal is `Error::OfflineLimit` naming the first limit the sale would pass.
pub(crate) fn admit(
    conn: &Connection,
    store_id: &str,
    tenders: Tenders,
    in_contact: bool,
    now: Reading,
) -> Result<Option<Admitted>> {
    let existing = load_row(conn, store_id)?;
    if existing.is_none() && in_contact {
        return Ok(None);
    }
    let limits = store_limits(conn, store_id)?;
    let window = existing.as_ref().map(|r| r.window(now));
    let offline_ms = window.as_ref().map_or(0, |w| w.offline_ms);
    for tender in [Tender::Card, Tender::Cash] {
        let amount = tenders.of(tender);
        if amount <= Decimal::ZERO {
            continue;
        }
        let l = limits.of(tender);
        if let Some(secs) = l.max_offline_secs {
            let max = secs.saturating_mul(1000);
            if offline_ms >= max {
                return Err(refused(
                    OfflineLimit::time(tender),
                    Measure::Millis(offline_ms),
                    Measure::Millis(max),
                ));
            }
        }
        if let Some(max) = l.max_sale
            && amount > max
        {
            return Err(refused(
                OfflineLimit::sale(tender),
                Measure::Money(amount),
                Measure::Money(max),
            ));
        }
        if let Some(max) = l.max_total {
            let would = window.as_ref().map_or(Decimal::ZERO, |w| w.total(tender)) + amount;
            if would > max {
                return Err(refused(
                    OfflineLimit::total(tender),
                    Measure::Money(would),
                    Measure::Money(max),
                ));
            }
        }
    }
    let row = match window {
        Some(w) => Row {
            opened_at: w.opened_at,
            offline_ms: w.offline_ms,
            wall_at: now.wall_ms,
            boot_at: now.boot_ms,
            card_total: w.card_total + tenders.card,
            cash_total: w.cash_total + tenders.cash,
            sales: w.sales + 1,
        },
        None => Row {
            opened_at: now.wall_ms,
            offline_ms: 0,
            wall_at: now.wall_ms,
            boot_at: now.boot_ms,
            card_total: tenders.card,
            cash_total: tenders.cash,
            sales: 1,
        },
    };
    Ok(Some(Admitted {
        store_id: store_id.to_string(),
        row,
    }))
}

fn refused(limit: OfflineLimit, attempted: Measure, max: Measure) -> Error {
    tracing::info!(%limit, %attempted, %max, "sale refused by an offline limit");
    Error::OfflineLimit {
        limit,
        attempted,
        max,
    }
}

/// Writes the window an admitted sale leaves (inside the sale's transaction).
pub(crate) fn record(conn: &Connection, admitted: &Admitted) -> Result<()> {
    let r = &admitted.row;
    let opened = conn
        .prepare_cached(
            "INSERT INTO offline_window (store_id, opened_at, offline_ms, wall_at, boot_at,
                                         card_total, cash_total, sales)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (store_id) DO UPDATE SET offline_ms = excluded.offline_ms,
               wall_at = excluded.wall_at, boot_at = excluded.boot_at,
               card_total = excluded.card_total, cash_total = excluded.cash_total,
               sales = excluded.sales
             RETURNING sales = 1",
        )?
        .query_row(
            params![
                admitted.store_id,
                r.opened_at,
                i64::try_from(r.offline_ms).unwrap_or(i64::MAX),
                r.wall_at,
                r.boot_at,
                r.card_total.to_string(),
                r.cash_total.to_string(),
                i64::try_from(r.sales).unwrap_or(i64::MAX),
            ],
            |row| row.get::<_, bool>(0),
        )?;
    if opened {
        tracing::info!(store = %admitted.store_id, "offline window opened");
    }
    Ok(())
}

/// Closes the window of every store whose queue on this device holds nothing pending (inside
/// the transaction that applied the server's verdicts). Returns how many closed.
pub(crate) fn close_drained(conn: &Connection) -> Result<usize> {
    let closed = conn
        .prepare_cached(
            "DELETE FROM offline_window WHERE NOT EXISTS (
                 SELECT 1 FROM outbox o
                 WHERE o.store_id = offline_window.store_id AND o.state = 'pending')",
        )?
        .execute([])?;
    if closed > 0 {
        tracing::info!(windows = closed, "offline window closed: the queue drained");
    }
    Ok(closed)
}

/// The offline limits' status of `store_id` now; `warn_percent` (1 to 100) of a limit used
/// makes it near.
pub fn status(
    conn: &Connection,
    store_id: &str,
    warn_percent: u8,
    now: Reading,
) -> Result<OfflineStatus> {
    let limits = store_limits(conn, store_id)?;
    let window = load_row(conn, store_id)?.map(|r| r.window(now));
    Ok(evaluate(limits, window, warn_percent))
}

/// The status of `limits` with `window` open (pure).
pub fn evaluate(
    limits: OfflineLimits,
    window: Option<OfflineWindow>,
    warn_percent: u8,
) -> OfflineStatus {
    let warn_percent = warn_percent.clamp(1, 100);
    let mut warnings = Vec::new();
    let mut headroom = [None, None];
    for (i, tender) in [Tender::Card, Tender::Cash].into_iter().enumerate() {
        let l = limits.of(tender);
        let offline_ms = window.as_ref().map_or(0, |w| w.offline_ms);
        let used_total = window.as_ref().map_or(Decimal::ZERO, |w| w.total(tender));
        let time_reached = l
            .max_offline_secs
            .is_some_and(|s| offline_ms >= s.saturating_mul(1000));
        headroom[i] = if time_reached {
            Some(Decimal::ZERO)
        } else {
            let left = l.max_total.map(|m| (m - used_total).max(Decimal::ZERO));
            match (l.max_sale, left) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        if window.is_none() {
            continue;
        }
        if let Some(secs) = l.max_offline_secs {
            let max = secs.saturating_mul(1000);
            let percent = percent_u(offline_ms, max);
            if offline_ms >= near_threshold_ms(max, warn_percent) || time_reached {
                warnings.push(LimitWarning {
                    limit: OfflineLimit::time(tender),
                    used: Measure::Millis(offline_ms),
                    max: Measure::Millis(max),
                    percent,
                    reached: time_reached,
                });
            }
        }
        if let Some(max) = l.max_total {
            let percent = percent_money(used_total, max);
            let near = used_total * Decimal::ONE_HUNDRED >= max * Decimal::from(warn_percent);
            if near {
                warnings.push(LimitWarning {
                    limit: OfflineLimit::total(tender),
                    used: Measure::Money(used_total),
                    max: Measure::Money(max),
                    percent,
                    reached: used_total >= max,
                });
            }
        }
    }
    warnings.sort_by_key(|w| (!w.reached, std::cmp::Reverse(w.percent)));
    OfflineStatus {
        limits,
        window,
        warnings,
        card_headroom: headroom[0],
        cash_headroom: headroom[1],
    }
}

fn percent_u(used: u64, max: u64) -> u32 {
    if max == 0 {
        return 100;
    }
    u32::try_from(u128::from(used) * 100 / u128::from(max)).unwrap_or(u32::MAX)
}

fn percent_money(used: Decimal, max: Decimal) -> u32 {
    if max <= Decimal::ZERO {
        return 100;
    }
    (used * Decimal::ONE_HUNDRED / max)
        .floor()
        .try_into()
        .unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(wall_ms: i64, boot_ms: Option<i64>) -> Reading {
        Reading { wall_ms, boot_ms }
    }

    #[test]
    fn time_passed_is_the_larger_clock_and_never_negative() {
        // Both clocks agree.
        assert_eq!(passed_since(1_000, Some(50), at(4_000, Some(3_050))), 3_000);
        // The wall clock set back five hours: the boot clock still counts the hour.
        let h = 3_600_000;
        assert_eq!(
            passed_since(10 * h, Some(h), at(6 * h, Some(2 * h))),
            h as u64
        );
        // The wall clock set forward: counted (the limit only comes closer).
        assert_eq!(passed_since(0, Some(0), at(2 * h, Some(10))), 2 * h as u64);
        // A restart of the device (boot clock below the checkpoint's): the wall clock alone.
        assert_eq!(
            passed_since(0, Some(5 * h), at(3 * h, Some(h))),
            3 * h as u64
        );
        // Both clocks behind: nothing, never a negative time.
        assert_eq!(passed_since(5 * h, Some(5 * h), at(h, Some(h))), 0);
        // No boot clock on this platform.
        assert_eq!(passed_since(0, None, at(7, None)), 7);
    }

    #[test]
    fn unknown_fields_are_ignored_and_missing_ones_mean_no_limit() {
        let l: OfflineLimits = serde_json::from_str(
            r#"{"card": {"max_sale": "200.00", "max_refund": "5"}, "gift": {}}"#,
        )
        .expect("limits");
        assert_eq!(l.card.max_sale, Some(Decimal::new(20000, 2)));
        assert_eq!(l.card.max_total, None);
        assert!(l.cash.is_empty());
        let none: OfflineLimits = serde_json::from_str("{}").expect("empty");
        assert!(none.is_empty());
    }

    #[test]
    fn limits_that_mean_nothing_are_refused() {
        let mut l = OfflineLimits::default();
        l.card.max_total = Some(Decimal::new(-1, 2));
        assert!(l.validate().is_err());
        l.card.max_total = Some(Decimal::ZERO);
        assert!(l.validate().is_ok(), "zero: no card offline at all");
        l.cash.max_offline_secs = Some(MAX_OFFLINE_SECS + 1);
        assert!(l.validate().is_err());
    }

    #[test]
    fn warnings_say_which_limit_and_how_close() {
        let limits = OfflineLimits {
            card: TenderLimits {
                max_offline_secs: Some(3600),
                max_sale: Some(Decimal::new(20000, 2)),
                max_total: Some(Decimal::new(100000, 2)),
            },
            cash: TenderLimits::default(),
        };
        let window = |ms: u64, card: i64| OfflineWindow {
            opened_at: 0,
            offline_ms: ms,
            card_total: Decimal::new(card, 2),
            cash_total: Decimal::new(123456, 2),
            sales: 3,
        };
        let s = evaluate(limits.clone(), Some(window(60_000, 10000)), 80);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.card_headroom, Some(Decimal::new(20000, 2)));
        assert_eq!(s.cash_headroom, None);
        // 79.99 % of the total is not near; 80.00 % is.
        let s = evaluate(limits.clone(), Some(window(60_000, 79999)), 80);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let s = evaluate(limits.clone(), Some(window(60_000, 80000)), 80);
        assert_eq!(s.warnings.len(), 1);
        assert_eq!(s.warnings[0].limit, OfflineLimit::CardTotal);
        assert_eq!(s.warnings[0].percent, 80);
        assert!(!s.warnings[0].reached);
        // 850.00 of 1000.00 used: a card sale may take 150.00 more.
        let s = evaluate(limits.clone(), Some(window(60_000, 85000)), 80);
        assert_eq!(s.card_headroom, Some(Decimal::new(15000, 2)));
        // The hour reached: nothing more by card, and that comes first.
        let s = evaluate(limits.clone(), Some(window(3_600_000, 85000)), 80);
        assert_eq!(s.warnings[0].limit, OfflineLimit::CardOfflineTime);
        assert!(s.warnings[0].reached);
        assert_eq!(s.card_headroom, Some(Decimal::ZERO));
        // The next change of the status: 48 minutes in (80 %), then at the hour.
        let s = evaluate(limits.clone(), Some(window(60_000, 0)), 80);
        assert_eq!(s.next_change_in_ms(80), Some(48 * 60_000 - 60_000));
        let s = evaluate(limits, Some(window(48 * 60_000, 0)), 80);
        assert_eq!(s.next_change_in_ms(80), Some(12 * 60_000));
    }

    #[test]
    fn durations_read_as_a_person_writes_them() {
        assert_eq!(Measure::Millis(3_723_000).to_string(), "1h02m03s");
        assert_eq!(Measure::Millis(61_000).to_string(), "1m01s");
        assert_eq!(Measure::Millis(999).to_string(), "0s");
    }
}
