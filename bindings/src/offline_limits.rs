//! The store's offline limits as the apps see them: the status records and the one call
//! that reads them. Converts the core's types field by field; money stays decimal strings.

use tillkit_core::offline_limits::{
    LimitWarning, Measure, OfflineLimit, OfflineStatus, OfflineWindow, TenderLimits,
};

use crate::core::TillkitCore;
use crate::error::TillkitError;

/// Which offline limit: its tender and what it bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OfflineLimitKind {
    /// How long the register may take card offline.
    CardOfflineTime,
    /// The largest card amount of one offline sale.
    CardSale,
    /// The largest total of card sales in one offline window.
    CardTotal,
    /// How long the register may take cash offline.
    CashOfflineTime,
    /// The largest cash amount of one offline sale.
    CashSale,
    /// The largest total of cash sales in one offline window.
    CashTotal,
}

impl From<OfflineLimit> for OfflineLimitKind {
    fn from(l: OfflineLimit) -> Self {
        match l {
            OfflineLimit::CardOfflineTime => OfflineLimitKind::CardOfflineTime,
            OfflineLimit::CardSale => OfflineLimitKind::CardSale,
            OfflineLimit::CardTotal => OfflineLimitKind::CardTotal,
            OfflineLimit::CashOfflineTime => OfflineLimitKind::CashOfflineTime,
            OfflineLimit::CashSale => OfflineLimitKind::CashSale,
            OfflineLimit::CashTotal => OfflineLimitKind::CashTotal,
        }
    }
}

/// One tender's limits; a `null`/`nil` field is no limit.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TenderLimitsRecord {
    /// Longest an offline window may be open for this tender, in seconds.
    pub max_offline_secs: Option<u64>,
    /// Largest amount of this tender in one offline sale (decimal string).
    pub max_sale: Option<String>,
    /// Largest total of this tender in one offline window (decimal string).
    pub max_total: Option<String>,
}

impl From<&TenderLimits> for TenderLimitsRecord {
    fn from(l: &TenderLimits) -> Self {
        TenderLimitsRecord {
            max_offline_secs: l.max_offline_secs,
            max_sale: l.max_sale.map(|d| d.to_string()),
            max_total: l.max_total.map(|d| d.to_string()),
        }
    }
}

/// The store's open offline window on this device.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OfflineWindowRecord {
    /// Device clock when its first sale completed (Unix ms; display only).
    pub opened_at_ms: i64,
    /// How long it has been open, whole seconds (counted so that changing the clock does
    /// not shorten it).
    pub offline_secs: u64,
    /// Card paid in its sales (decimal string).
    pub card_total: String,
    /// Cash kept in its sales (decimal string).
    pub cash_total: String,
    /// Sales in it.
    pub sales: u64,
}

impl From<OfflineWindow> for OfflineWindowRecord {
    fn from(w: OfflineWindow) -> Self {
        OfflineWindowRecord {
            opened_at_ms: w.opened_at,
            offline_secs: w.offline_ms / 1000,
            card_total: w.card_total.to_string(),
            cash_total: w.cash_total.to_string(),
            sales: w.sales,
        }
    }
}

/// A limit near or reached: which, and how close. A time limit fills the `_secs` fields,
/// an amount limit the `_amount` ones (decimal strings).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OfflineLimitWarning {
    pub limit: OfflineLimitKind,
    /// Used in whole percent of the limit.
    pub percent: u32,
    /// Nothing more of that tender can be sold offline until the queue has drained.
    pub reached: bool,
    pub used_secs: Option<u64>,
    pub max_secs: Option<u64>,
    pub used_amount: Option<String>,
    pub max_amount: Option<String>,
}

impl From<LimitWarning> for OfflineLimitWarning {
    fn from(w: LimitWarning) -> Self {
        let secs = |m: Measure| match m {
            Measure::Millis(ms) => Some(ms / 1000),
            Measure::Money(_) => None,
        };
        let amount = |m: Measure| match m {
            Measure::Money(d) => Some(d.to_string()),
            Measure::Millis(_) => None,
        };
        OfflineLimitWarning {
            limit: w.limit.into(),
            percent: w.percent,
            reached: w.reached,
            used_secs: secs(w.used),
            max_secs: secs(w.max),
            used_amount: amount(w.used),
            max_amount: amount(w.max),
        }
    }
}

/// The offline limits of the session's store: the limits, the open window, the warnings
/// (reached first), and the largest card and cash amount an offline sale may take now
/// (`null`/`nil`: no limit).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OfflineStatusRecord {
    pub card: TenderLimitsRecord,
    pub cash: TenderLimitsRecord,
    pub window: Option<OfflineWindowRecord>,
    pub warnings: Vec<OfflineLimitWarning>,
    pub card_headroom: Option<String>,
    pub cash_headroom: Option<String>,
}

impl From<OfflineStatus> for OfflineStatusRecord {
    fn from(s: OfflineStatus) -> Self {
        OfflineStatusRecord {
            card: (&s.limits.card).into(),
            cash: (&s.limits.cash).into(),
            window: s.window.map(Into::into),
            warnings: s.warnings.into_iter().map(Into::into).collect(),
            card_headroom: s.card_headroom.map(|d| d.to_string()),
            cash_headroom: s.cash_headroom.map(|d| d.to_string()),
        }
    }
}

#[uniffi::export]
impl TillkitCore {
    /// The session store's offline limits now (the status carries the same, on every change).
    pub async fn offline_status(&self) -> Result<OfflineStatusRecord, TillkitError> {
        let till = self.till()?;
        crate::runtime::blocking(move || Ok(till.offline_status()?.into())).await
    }
}
