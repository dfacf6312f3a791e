//! Draining one store's queue: batches sized to what the path carries, the server's verdicts
//! applied in one transaction each, 413 split down to one sale, which is then parked; so is
//! a sale the path keeps cutting in flight when sent alone while it carries other requests.
//! Only the server's answer for a sale sets that sale aside; nothing else removes one.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use super::backoff::ceiling;
use super::engine::Shared;
use super::error::{Request, SyncError};
use super::protocol::{self, BatchResponse, SaleStatus};
use crate::limits;
use crate::outbox::Verdict;

/// A full batch acknowledged within `request_timeout / QUICK_BATCH_FRACTION` counts towards
/// doubling the batch size again: the link carried it with time to spare.
const QUICK_BATCH_FRACTION: u32 = 4;

/// Quick full batches in a row after which the batch size doubles (up to the configured
/// size): one quick batch may be luck on a link that flaps, two are room to spare.
const QUICK_BATCHES_BEFORE_DOUBLING: u32 = 2;

/// Requests cut in flight in a row (no answer between them) after which the batch size
/// halves. On a link that flaps, the request in flight when a good spell ends is always cut,
/// whatever its size, so one cut after answers in the same spell says nothing; a batch cut
/// again when it is resent, first thing in the next spell, did not fit in it. A timeout
/// halves it at once: the link had the whole request timeout and could not carry it.
const CUTS_BEFORE_HALVING: u32 = 2;

/// Times in a row one sale sent alone is cut in flight, with the server answering between
/// the cuts, after which that sale is parked like a sale refused alone with a 413. A path
/// that carries small requests but cuts this one (a proxy or WAF that resets any body over
/// its limit, with no 413) would otherwise have it sent first, cut, probed for and sent
/// again forever, with every sale behind it waiting. One cut proves nothing (the link may
/// have dropped under it); two may be bad luck on a flapping link; three, each sent first
/// thing after an answer, are the path refusing it. A sale parked before is parked again
/// at its first cut alone: it has already shown the path will not carry it.
///
/// On a link that flaps every 100 ms, "answered between" holds almost every time: after each
/// cut the engine waits for a health probe, and the probe is answered in the next good
/// spell. So it does not tell a flap from a limit; what does is the rest of the rule. The
/// lone sale is resent right after that answer, early in a good spell, and an ordinary sale
/// takes milliseconds, far less than the spell: the spell has to end under it three times
/// running. If a loaded machine makes that happen, the sale is only parked: it stays queued,
/// keeps its id, comes back alone after a backoff capped at `backoff_cap`, and the server
/// stores it once.
const LONE_CUTS_BEFORE_PARKING: u32 = 3;

/// How one upload request ended, as far as the size of the next one is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Answered (with the protocol's answer) within a quarter of the request timeout.
    Quick,
    /// Answered, but late.
    Slow,
    /// Sent, then cut before its answer was complete: reset, closed, answer body cut short.
    Cut,
    /// Sent, and no whole answer within the request timeout.
    TimedOut,
    /// Answered with a refusal of what it carried (`SyncError::is_content_refusal`): a
    /// filter on the path, or a server that cannot read one of its sales.
    Refused,
    /// Anything else (busy, misrouted, a connection never made): says nothing about size.
    Other,
}

impl Ending {
    fn of_failure(e: &SyncError) -> Ending {
        match e {
            _ if e.is_content_refusal() => Ending::Refused,
            // A block page that is not a 4xx (a WAF's 200 HTML page, a redirect to one)
            // refuses what the upload carried all the same.
            SyncError::BadResponse { .. } | SyncError::Redirected { .. } => Ending::Refused,
            // The path's or the server's body read timed out: as if the request had.
            SyncError::Refused { answer } if answer.status == 408 => Ending::TimedOut,
            _ if !e.is_cut() => Ending::Other,
            SyncError::Timeout(_) => Ending::TimedOut,
            _ => Ending::Cut,
        }
    }
}

/// How much one upload request carries; learnt from the path during a drain.
#[derive(Debug, Clone)]
pub(super) struct Sizing {
    /// Sales per request now.
    batch: usize,
    /// The configured (largest) batch size.
    full: usize,
    /// Largest request body to send: below any body the path answered 413.
    body_limit: usize,
    /// Quick full batches in a row since the batch size last changed.
    quick: u32,
    /// Requests cut in a row since the last answer or change of batch size.
    cuts: u32,
    /// The sale last sent alone and cut, while no request carrying it has been answered.
    lone: Option<LoneCuts>,
}

/// One sale sent alone and cut in flight, and how often in a row (see
/// `LONE_CUTS_BEFORE_PARKING`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct LoneCuts {
    sale_id: String,
    /// Cuts counted: the first, then each one with an answer to some request since the
    /// last one counted.
    cuts: u32,
    /// `Shared::answers` at the last cut counted.
    answers: u64,
}

/// Each store's `Sizing`. A store's run of cuts is about the head of its own queue: an
/// answer to another store's upload must not restart it (that store's sales could then keep
/// the cut batch from ever halving to its first sale, and that sale from being parked).
#[derive(Debug, Clone)]
pub(super) struct Sizings {
    full: usize,
    stores: std::collections::HashMap<String, Sizing>,
}

impl Sizings {
    /// No store's sizing yet; each starts with the configured batch size.
    pub(super) fn new(full: usize) -> Self {
        Sizings {
            full,
            stores: std::collections::HashMap::new(),
        }
    }

    /// `store_id`'s sizing, fresh the first time.
    pub(super) fn of(&mut self, store_id: &str) -> &mut Sizing {
        let full = self.full;
        self.stores
            .entry(store_id.to_string())
            .or_insert_with(|| Sizing::new(full))
    }
}

/// What to do with a sale whose lone request was cut in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoneCut {
    /// Keep it first in line: resent after the server is seen answering again.
    Resend,
    /// Park it: cut this many times in a row alone while the server answered.
    Park { cuts: u32, again: bool },
}

impl Sizing {
    /// A fresh sizing with the configured batch size and the server's body limit.
    pub(super) fn new(full: usize) -> Self {
        Sizing {
            batch: full,
            full,
            body_limit: limits::MAX_BODY_BYTES,
            quick: 0,
            cuts: 0,
            lone: None,
        }
    }

    /// Records that `sale_id`, sent alone, was cut in flight when `answers` requests had
    /// been answered so far (`Shared::answers`); `parked_before` when it has been parked
    /// already. A cut counts when it is the sale's first, or some request was answered
    /// since its last one counted: a cut with no answer between (the link still down,
    /// "sync now" during an outage) neither counts nor starts the count again.
    fn lone_cut(&mut self, sale_id: &str, answers: u64, parked_before: bool) -> LoneCut {
        if parked_before {
            // Parked again at once, and the run of the sale being counted (the one first
            // in line) is left as it is: a parked sale's retry must not restart it.
            return LoneCut::Park {
                cuts: 1,
                again: true,
            };
        }
        let lone = match &mut self.lone {
            Some(lone) if lone.sale_id == sale_id => {
                if answers > lone.answers {
                    lone.cuts = lone.cuts.saturating_add(1);
                    lone.answers = answers;
                }
                lone
            }
            other => other.insert(LoneCuts {
                sale_id: sale_id.to_string(),
                cuts: 1,
                answers,
            }),
        };
        if lone.cuts < LONE_CUTS_BEFORE_PARKING {
            return LoneCut::Resend;
        }
        let cuts = lone.cuts;
        self.lone = None;
        LoneCut::Park { cuts, again: false }
    }

    /// A request carrying `ids` was answered (whatever the answer): a lone sale among them
    /// got through the path, and its run of cuts is over.
    fn carried(&mut self, ids: &[String]) {
        if self
            .lone
            .as_ref()
            .is_some_and(|lone| ids.contains(&lone.sale_id))
        {
            self.lone = None;
        }
    }

    /// Half the sales of a batch of `sent` (at least one) for the next request.
    fn halve(&mut self, sent: usize) {
        self.batch = (sent / 2).max(1);
        self.quick = 0;
        self.cuts = 0;
    }

    /// The batch size after a request of `sent` sales ended so: a timeout, or
    /// `CUTS_BEFORE_HALVING` cuts in a row, halve it; `QUICK_BATCHES_BEFORE_DOUBLING` quick full batches in a row double
    /// it (up to the configured size). A short batch (the end of the queue) counts as an
    /// answer, not as room.
    fn record(&mut self, sent: usize, ending: Ending) {
        match ending {
            Ending::TimedOut => self.halve(sent),
            Ending::Cut | Ending::Refused => {
                self.quick = 0;
                self.cuts = self.cuts.saturating_add(1);
                if self.cuts >= CUTS_BEFORE_HALVING {
                    self.halve(sent);
                }
            }
            Ending::Quick | Ending::Slow => {
                self.cuts = 0;
                if ending == Ending::Slow {
                    self.quick = 0;
                } else if sent >= self.batch {
                    self.quick = self.quick.saturating_add(1);
                    if self.quick >= QUICK_BATCHES_BEFORE_DOUBLING {
                        self.batch = self.batch.saturating_mul(2).min(self.full);
                        self.quick = 0;
                    }
                }
            }
            Ending::Other => {}
        }
    }
}

/// Uploads `store_id`'s pending sales oldest first until none is left to send now, and
/// returns the moment it found none left (a sale rung after it is the next drain's).
///
/// A request that times out, or two in a row cut in flight (reset, answer cut short), halve
/// the batch size: the link could not carry that much in time, or in one of its good spells. Quick full batches
/// in a row double it again, up to the configured size (see `Sizing::record`); every cut sale is
/// sent again with its own id, and the server stores it once. A 413 halves the body size
/// for the rest of the drain; one sale refused alone is parked: it stays pending, is
/// retried after a backoff, and the sales behind it go on. So is one sale cut in flight
/// alone `LONE_CUTS_BEFORE_PARKING` times in a row with the server answering between (a path
/// that resets large bodies instead of answering 413), or cut alone again once parked.
pub(super) async fn drain(
    shared: &Shared,
    store_id: &str,
    token: &str,
    size: &mut Sizing,
) -> Result<std::time::Instant, SyncError> {
    loop {
        let room = size.body_limit.saturating_sub(protocol::BATCH_OVERHEAD);
        let batch =
            shared
                .till
                .next_upload_batch(store_id, size.batch, room, shared.cfg.max_park())?;
        if batch.is_empty() {
            return Ok(std::time::Instant::now());
        }
        #[cfg(feature = "test-support")]
        shared.cfg.hooks.maybe_panic();
        shared.set_syncing(true);
        shared.refresh_status();
        let ids: Vec<String> = batch.iter().map(|p| p.sale_id.clone()).collect();
        let payloads: Vec<&str> = batch.iter().map(|p| p.record.as_str()).collect();
        let body = protocol::batch_body(&payloads);
        let body_len = body.len();
        let span = tracing::info_span!("upload_batch", store = store_id, sales = ids.len());
        let sent_at = Instant::now();
        let result = shared
            .client
            .upload(store_id, token, body)
            .instrument(span)
            .await;
        shared.set_syncing(false);
        let step = step(result, ids.len());
        // Only the protocol's answer shows the sales got through: a refusal, a rate limit or a
        // busy page between a lone sale's cuts or refusals does not end its run.
        if matches!(step, Step::Apply(_)) {
            size.carried(&ids);
        }
        match step {
            Step::Apply(response) => {
                shared.server_answered();
                apply(shared, &ids, &response)?;
                let quick = sent_at.elapsed() < shared.cfg.request_timeout / QUICK_BATCH_FRACTION;
                let ending = if quick { Ending::Quick } else { Ending::Slow };
                size.record(ids.len(), ending);
            }
            Step::Split(e) => {
                // Something on the path takes less than this: send at most half as much.
                tracing::warn!(
                    error = %e.chain(),
                    bytes = body_len,
                    sales = ids.len(),
                    "batch too large for the path; splitting"
                );
                size.body_limit = (body_len / 2).max(1);
                size.halve(ids.len());
            }
            Step::Park(e) => park(shared, &ids[0], &e.chain())?,
            Step::Keep(e) => {
                let ending = Ending::of_failure(&e);
                // A path that stalls a large body (a black hole, a stalling WAF) times it out
                // where another would reset it, and a filter refuses it: all count toward
                // parking it. A refusal is itself an answer from the path, so each counts.
                let lone = matches!(ending, Ending::Cut | Ending::TimedOut | Ending::Refused);
                if lone && ids.len() == 1 {
                    let parked_before = shared.till.sale_parks(&ids[0])? > 0;
                    let answers = if ending == Ending::Refused {
                        shared.refusal_answered()
                    } else {
                        shared.answers()
                    };
                    if let LoneCut::Park { cuts, again } =
                        size.lone_cut(&ids[0], answers, parked_before)
                    {
                        // The path carries other requests but not this one: park it as a
                        // 413 alone would be, and go on with the sales behind it. A parked
                        // sale's retry says nothing of the batch size for the others.
                        if !again {
                            size.record(ids.len(), ending);
                        }
                        let why = cut_alone(cuts, again, ending, body_len, &e);
                        park(shared, &ids[0], &why)?;
                        continue;
                    }
                }
                if e.is_unanswered() {
                    shared.failed_request(sent_at.into_std());
                }
                if let Err(local) = shared.till.record_upload_failure(&ids, &e.chain()) {
                    tracing::warn!(error = %local, "failed attempt not recorded");
                }
                // Resent as it was, a cut batch would be cut the same way.
                size.record(ids.len(), ending);
                return Err(e);
            }
        }
    }
}

/// What one upload's outcome does to the batch it carried.
#[derive(Debug)]
enum Step {
    /// The protocol's answer: its per-sale verdicts are applied (see `verdicts`).
    Apply(BatchResponse),
    /// 413 for more than one sale: the path takes less; send half as much.
    Split(SyncError),
    /// 413 for one sale alone: that sale is parked (stays queued, retried after a backoff).
    Park(SyncError),
    /// Any other failure of the whole request: every sale of the batch stays queued.
    Keep(SyncError),
}

impl Step {
    /// Something answered the request over HTTP (the server or the path), whatever it said.
    #[cfg(test)]
    fn answered(&self) -> bool {
        match self {
            Step::Apply(_) | Step::Split(_) | Step::Park(_) => true,
            Step::Keep(e) => !e.is_unanswered(),
        }
    }
}

/// Sorts an upload's outcome for a batch of `sales` sales. Only `Apply` can set a sale aside.
fn step(result: Result<BatchResponse, SyncError>, sales: usize) -> Step {
    match result {
        Ok(response) => Step::Apply(response),
        Err(e) if e.is_too_large() && sales > 1 => Step::Split(e),
        Err(e) if e.is_too_large() => Step::Park(e),
        Err(e) => Step::Keep(e),
    }
}

/// Why a sale whose lone request was cut, timed out or refused (`ending`: the last one) `cuts`
/// times in a row is parked (`again`: it was parked before), in words a cashier or an operator can
/// act on.
fn cut_alone(cuts: u32, again: bool, ending: Ending, body_len: usize, e: &SyncError) -> String {
    let (how, likely) = match ending {
        Ending::TimedOut => (
            "left unanswered until the request timeout",
            "a proxy or firewall limiting request size",
        ),
        Ending::Refused => (
            "refused",
            "a proxy or firewall filtering requests, or a server that cannot read this sale",
        ),
        _ => ("cut in flight", "a proxy or firewall limiting request size"),
    };
    let what = if again {
        format!("{how} again when retried alone")
    } else if ending == Ending::Refused {
        format!("{how} {cuts} times in a row when sent alone")
    } else {
        format!(
            "{how} {cuts} times in a row when sent alone, while the server answered other requests"
        )
    };
    format!(
        "the upload of this sale ({body_len} bytes) was {what}: probably {likely} ({})",
        e.chain()
    )
}

/// Parks the one sale the path refuses even alone, until a backoff of its own has passed;
/// `error` says why.
fn park(shared: &Shared, sale_id: &str, error: &str) -> Result<(), SyncError> {
    let parks = shared.till.sale_parks(sale_id)?;
    let cfg = &shared.cfg;
    let wait = ceiling(cfg.backoff_base, cfg.backoff_cap, parks);
    let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
    let until = crate::time::now_ms().saturating_add(wait_ms.max(1));
    let why = format!(
        "{error}; it stays queued and is retried alone in {}",
        seconds(wait)
    );
    let parks = shared.till.park_sale(sale_id, &why, until)?;
    tracing::warn!(sale = sale_id, parks, %error, "sale too large for the path; parked");
    shared.refresh_status();
    Ok(())
}

fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs())
    }
}

/// The verdicts one well-formed answer gives the sales sent (`ids`).
#[derive(Debug, Default, PartialEq)]
struct Verdicts {
    /// Each sale answered, once: synced or set aside with the server's reason.
    verdicts: Vec<(String, Verdict)>,
    /// Results with a status this app does not know (their sales stay queued).
    unknown: usize,
    /// Distinct sales sent that the answer named with a known status.
    answered: usize,
}

/// Reads one well-formed answer. Only a sale the answer names `rejected` (or `conflict`) is
/// set aside; a sale it leaves out, names twice or gives an unknown status stays queued, and
/// a result for a sale that was not sent is ignored.
fn verdicts(ids: &[String], response: &BatchResponse) -> Verdicts {
    let sent: HashSet<&str> = ids.iter().map(String::as_str).collect();
    // Distinct sales answered: a response naming one sale twice and another not at all
    // must not pass for complete.
    let mut answered = HashSet::with_capacity(ids.len());
    let mut out = Verdicts::default();
    for r in &response.results {
        if r.status == SaleStatus::Unknown {
            // Not a verdict this app can act on: the sale stays queued.
            out.unknown += 1;
            continue;
        }
        if !sent.contains(r.sale_id.as_str()) || !answered.insert(r.sale_id.as_str()) {
            continue;
        }
        let verdict = match r.status {
            SaleStatus::Accepted | SaleStatus::Duplicate => Verdict::Synced,
            SaleStatus::Rejected => Verdict::SetAside(
                r.reason
                    .clone()
                    .unwrap_or_else(|| "rejected by the server".into()),
            ),
            SaleStatus::Conflict => Verdict::SetAside(format!(
                "conflict: {}",
                r.reason
                    .as_deref()
                    .unwrap_or("the server holds a different sale with this id")
            )),
            SaleStatus::Unknown => continue,
        };
        out.verdicts.push((r.sale_id.clone(), verdict));
    }
    out.answered = answered.len();
    out
}

/// Applies one well-formed answer: each sale answered is synced or set aside, all in one
/// transaction. An answer that leaves sales out is an error; those sales stay queued.
fn apply(shared: &Shared, ids: &[String], response: &BatchResponse) -> Result<(), SyncError> {
    let Verdicts {
        verdicts,
        unknown,
        answered,
    } = verdicts(ids, response);
    shared.till.apply_upload_verdicts(&verdicts)?;
    if !verdicts.is_empty() {
        // Progress, so the backoff may start again from its base; an answer that named
        // none of the sales (a middlebox's canned `{"results": []}`) is no progress.
        shared.acknowledged();
    }
    let synced = verdicts
        .iter()
        .filter(|(_, v)| *v == Verdict::Synced)
        .count();
    tracing::info!(sent = ids.len(), synced, "batch acknowledged");
    shared.refresh_status();
    if unknown > 0 {
        return Err(SyncError::Inconsistent {
            request: Request::Upload,
            what: format!(
                "it gave {unknown} sale(s) a verdict this app does not know (update the app); they stay queued"
            ),
        });
    }
    if answered < ids.len() {
        return Err(SyncError::Inconsistent {
            request: Request::Upload,
            what: format!("it answered for {answered} of {} sales", ids.len()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Every kind of answer an upload can get, through the client's own classification and
    //! this module's: what each does to the sales of the batch.

    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::sync::SyncConfig;
    use crate::sync::backoff::Backoff;
    use crate::sync::client::{Client, batch_answer};
    use crate::sync::protocol::PROTOCOL_VERSION;

    /// What becomes of one sale of the batch.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fate {
        Synced,
        SetAside,
        /// Still queued, sent again later.
        Queued,
    }
    use Fate::*;

    /// What becomes of the batch.
    #[derive(Debug, PartialEq, Eq)]
    enum Outcome {
        /// The answer's verdicts, one per sale in the order sent.
        Sales(Vec<Fate>),
        /// The whole batch stays queued; the error's kind.
        Kept(&'static str),
        Split,
        Parked,
    }

    fn kind(e: &SyncError) -> &'static str {
        match e {
            SyncError::Network(_) => "Network",
            SyncError::Tls { .. } => "Tls",
            SyncError::Timeout(_) => "Timeout",
            SyncError::Busy { .. } => "Busy",
            SyncError::Gateway { .. } => "Gateway",
            SyncError::Refused { .. } => "Refused",
            SyncError::BadResponse { .. } => "BadResponse",
            SyncError::Redirected { .. } => "Redirected",
            SyncError::Inconsistent { .. } => "Inconsistent",
            SyncError::Auth { .. } => "Auth",
            SyncError::Incompatible { .. } => "Incompatible",
            SyncError::Local(_) => "Local",
        }
    }

    fn response(
        status: u16,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> reqwest::Response {
        let mut b = http::Response::builder().status(status);
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        for (name, value) in headers {
            b = b.header(*name, *value);
        }
        reqwest::Response::from(b.body(body.to_string()).expect("a valid response"))
    }

    fn classify(resp: reqwest::Response) -> Result<BatchResponse, SyncError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(batch_answer(resp, PROTOCOL_VERSION))
    }

    /// The batch's fate under one answer, by the same steps `drain` takes.
    fn outcome(ids: &[String], resp: reqwest::Response) -> Outcome {
        match step(classify(resp), ids.len()) {
            Step::Apply(answer) => {
                let v = verdicts(ids, &answer);
                Outcome::Sales(
                    ids.iter()
                        .map(|id| match v.verdicts.iter().find(|(s, _)| s == id) {
                            Some((_, Verdict::Synced)) => Synced,
                            Some((_, Verdict::SetAside(_))) => SetAside,
                            None => Queued,
                        })
                        .collect(),
                )
            }
            Step::Split(e) => {
                assert!(e.is_too_large(), "{e:?}");
                Outcome::Split
            }
            Step::Park(e) => {
                assert!(e.is_too_large(), "{e:?}");
                Outcome::Parked
            }
            Step::Keep(e) => Outcome::Kept(kind(&e)),
        }
    }

    fn sales(n: usize) -> Vec<String> {
        ["s-a", "s-b", "s-c"][..n]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    const JSON: Option<&str> = Some("application/json");
    const HTML: Option<&str> = Some("text/html");
    const PAGE: &str = "<html><body><h1>400 Bad Request</h1></body></html>";

    #[test]
    fn only_the_protocol_answer_for_a_sale_sets_that_sale_aside() {
        let all_accepted = r#"{"results":[{"sale_id":"s-a","status":"accepted"},{"sale_id":"s-b","status":"accepted"},{"sale_id":"s-c","status":"duplicate"}]}"#;
        let cases: &[(&str, u16, Option<&str>, &str, Outcome)] = &[
            (
                "all stored",
                200,
                JSON,
                all_accepted,
                Outcome::Sales(vec![Synced, Synced, Synced]),
            ),
            (
                "charset parameter",
                200,
                Some("Application/JSON; charset=utf-8"),
                all_accepted,
                Outcome::Sales(vec![Synced, Synced, Synced]),
            ),
            (
                "one rejected",
                200,
                JSON,
                r#"{"results":[{"sale_id":"s-a","status":"accepted"},{"sale_id":"s-b","status":"rejected","reason":"total mismatch"},{"sale_id":"s-c","status":"duplicate"}]}"#,
                Outcome::Sales(vec![Synced, SetAside, Synced]),
            ),
            (
                "rejected without reason, conflict",
                200,
                JSON,
                r#"{"results":[{"sale_id":"s-a","status":"rejected"},{"sale_id":"s-b","status":"conflict"},{"sale_id":"s-c","status":"accepted"}]}"#,
                Outcome::Sales(vec![SetAside, SetAside, Synced]),
            ),
            (
                "a verdict this app does not know, unknown fields",
                200,
                JSON,
                r#"{"results":[{"sale_id":"s-a","status":"accepted","x":1},{"sale_id":"s-b","status":"accepted"},{"sale_id":"s-c","status":"quarantined"}],"next":2}"#,
                Outcome::Sales(vec![Synced, Synced, Queued]),
            ),
            (
                "a sale left out",
                200,
                JSON,
                r#"{"results":[{"sale_id":"s-a","status":"accepted"},{"sale_id":"s-c","status":"rejected"}]}"#,
                Outcome::Sales(vec![Synced, Queued, SetAside]),
            ),
            (
                "a sale named twice, one never sent",
                200,
                JSON,
                r#"{"results":[{"sale_id":"s-a","status":"accepted"},{"sale_id":"s-a","status":"rejected"},{"sale_id":"s-z","status":"rejected"}]}"#,
                Outcome::Sales(vec![Synced, Queued, Queued]),
            ),
            (
                "canned empty answer",
                200,
                JSON,
                r#"{"results":[]}"#,
                Outcome::Sales(vec![Queued, Queued, Queued]),
            ),
            (
                "200 HTML page",
                200,
                HTML,
                PAGE,
                Outcome::Kept("BadResponse"),
            ),
            (
                "200 JSON type, HTML body",
                200,
                JSON,
                PAGE,
                Outcome::Kept("BadResponse"),
            ),
            (
                "200 JSON type, other JSON",
                200,
                JSON,
                r#"{"ok":true}"#,
                Outcome::Kept("BadResponse"),
            ),
            (
                "200 truncated JSON",
                200,
                JSON,
                &all_accepted[..40],
                Outcome::Kept("BadResponse"),
            ),
            (
                "200 text/plain",
                200,
                Some("text/plain"),
                all_accepted,
                Outcome::Kept("BadResponse"),
            ),
            (
                "200 no content type",
                200,
                None,
                all_accepted,
                Outcome::Kept("BadResponse"),
            ),
            ("400 HTML", 400, HTML, PAGE, Outcome::Kept("Refused")),
            ("400 empty", 400, None, "", Outcome::Kept("Refused")),
            (
                "400 protocol error body",
                400,
                JSON,
                r#"{"error":"invalid_batch","message":"sales missing"}"#,
                Outcome::Kept("Refused"),
            ),
            (
                "400 JSON with rejected results",
                400,
                JSON,
                r#"{"results":[{"sale_id":"s-a","status":"rejected"}]}"#,
                Outcome::Kept("Refused"),
            ),
            (
                "400 version error",
                400,
                JSON,
                r#"{"error":"unsupported_protocol","message":"too new","supported_protocol":{"min":1,"max":1}}"#,
                Outcome::Kept("Incompatible"),
            ),
            (
                "404 HTML",
                404,
                HTML,
                "<h1>Not Found</h1>",
                Outcome::Kept("Refused"),
            ),
            (
                "404 JSON",
                404,
                JSON,
                r#"{"error":"not_found","message":"no route"}"#,
                Outcome::Kept("Refused"),
            ),
            (
                "405 HTML",
                405,
                HTML,
                "<h1>Method Not Allowed</h1>",
                Outcome::Kept("Refused"),
            ),
            ("415 HTML", 415, HTML, PAGE, Outcome::Kept("Refused")),
            (
                "422 JSON",
                422,
                JSON,
                r#"{"error":"unprocessable","message":"bad"}"#,
                Outcome::Kept("Refused"),
            ),
            ("413 HTML, three sales", 413, HTML, PAGE, Outcome::Split),
            (
                "413 JSON, three sales",
                413,
                JSON,
                r#"{"error":"too_large"}"#,
                Outcome::Split,
            ),
            ("401 HTML", 401, HTML, PAGE, Outcome::Kept("Refused")),
            (
                "401 gateway JSON",
                401,
                JSON,
                r#"{"error":"invalid_client"}"#,
                Outcome::Kept("Refused"),
            ),
            (
                "401 protocol",
                401,
                JSON,
                r#"{"error":"unauthorized","message":"unknown token"}"#,
                Outcome::Kept("Auth"),
            ),
            ("302 portal", 302, HTML, PAGE, Outcome::Kept("Redirected")),
            ("429", 429, HTML, PAGE, Outcome::Kept("Busy")),
            (
                "500",
                500,
                JSON,
                r#"{"error":"internal"}"#,
                Outcome::Kept("Busy"),
            ),
            // A 5xx page in place of the server's JSON error is the gateway's, not the
            // server's: no answer, the batch kept, the outage probed on schedule.
            ("502 HTML", 502, HTML, PAGE, Outcome::Kept("Gateway")),
            ("503 HTML", 503, HTML, PAGE, Outcome::Kept("Gateway")),
            ("504 no body", 504, None, "", Outcome::Kept("Gateway")),
        ];
        let ids = sales(3);
        for (what, status, content_type, body, expected) in cases {
            let got = outcome(&ids, response(*status, *content_type, &[], body));
            assert_eq!(&got, expected, "{what}");
        }
    }

    #[test]
    fn a_413_splits_the_batch_and_parks_a_sale_too_large_alone() {
        for (content_type, body) in [(HTML, PAGE), (JSON, r#"{"error":"too_large"}"#), (None, "")] {
            assert_eq!(
                outcome(&sales(2), response(413, content_type, &[], body)),
                Outcome::Split
            );
            assert_eq!(
                outcome(&sales(1), response(413, content_type, &[], body)),
                Outcome::Parked,
                "one sale the path refuses alone is parked, never set aside"
            );
        }
        // Any other refusal of one sale alone keeps it queued like a batch.
        assert_eq!(
            outcome(&sales(1), response(400, HTML, &[], PAGE)),
            Outcome::Kept("Refused")
        );
        // Only the server's own verdict sets a lone sale aside.
        assert_eq!(
            outcome(
                &sales(1),
                response(
                    200,
                    JSON,
                    &[],
                    r#"{"results":[{"sale_id":"s-a","status":"rejected","reason":"bad"}]}"#
                )
            ),
            Outcome::Sales(vec![SetAside])
        );
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_backoff_cap_and_ignored_when_it_does_not_parse() {
        let cap = Duration::from_secs(60);
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        // (header, expected wait after a 429 or 5xx; `None` when the header is ignored)
        let cases: &[(&str, Option<Duration>)] = &[
            ("5", Some(Duration::from_secs(5))),
            ("0", Some(Duration::ZERO)),
            ("60", Some(cap)),
            ("61", Some(cap)),
            ("18446744073709551615", Some(cap)),
            ("99999999999999999999999", Some(cap)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(Duration::ZERO)),
            ("Fri, 31 Dec 9999 23:59:59 GMT", Some(cap)),
            ("-5", None),
            ("-18446744073709551615", None),
            ("1.5", None),
            ("soon", None),
            ("5 seconds", None),
            ("", None),
        ];
        // A 429 from anything in the path, and the server's own 503 busy (its JSON error).
        const BUSY: &str = r#"{"error":"busy","message":"store busy"}"#;
        for (status, content_type, body) in [(429, HTML, PAGE), (503, JSON, BUSY)] {
            for (header, expected) in cases {
                let e = classify(response(
                    status,
                    content_type,
                    &[("retry-after", header)],
                    body,
                ))
                .expect_err("a busy answer");
                assert_eq!(kind(&e), "Busy", "{status} {header:?}");
                let wait = e.retry_after(cap);
                assert_eq!(wait, *expected, "{status} Retry-After: {header:?}");
                // The engine's next try comes after the wait asked, never after the cap.
                let mut backoff = Backoff::new(Duration::from_millis(100), cap);
                let delay = backoff.next_delay(wait);
                assert!(delay <= cap, "{header:?}: {delay:?}");
                assert!(delay >= wait.unwrap_or_default(), "{header:?}: {delay:?}");
            }
            // An HTTP-date half a minute ahead asks for about that long (whole seconds).
            let e = classify(response(
                status,
                content_type,
                &[("retry-after", &soon)],
                body,
            ))
            .expect_err("a busy answer");
            let wait = e.retry_after(cap).expect("a date parses");
            assert!(
                (Duration::from_secs(25)..=Duration::from_secs(30)).contains(&wait),
                "{soon}: {wait:?}"
            );
        }
        // A gateway's page asks nothing of the engine: the probe schedule governs the retry.
        let page = classify(response(503, HTML, &[("retry-after", "5")], PAGE))
            .expect_err("a gateway's page");
        assert_eq!(kind(&page), "Gateway");
        assert_eq!(page.retry_after(cap), None);
        // Not a busy answer: the header asks nothing of the engine.
        let refused =
            classify(response(400, HTML, &[("retry-after", "5")], PAGE)).expect_err("refused");
        assert_eq!(refused.retry_after(cap), None);
    }

    #[test]
    fn a_timeout_or_two_cuts_in_a_row_halve_the_batch_and_two_quick_full_batches_double_it() {
        use Ending::*;
        let mut size = Sizing::new(200);
        // (sales sent, how that request ended, batch size after it)
        let steps: &[(usize, Ending, usize)] = &[
            (200, Quick, 200),
            (200, Quick, 200),
            // One cut after answers: the end of a good spell, not a sign of size.
            (200, Cut, 200),
            (200, Quick, 200),
            (200, Cut, 200),
            // Cut again with no answer between: half as much next time, and again.
            (200, Cut, 100),
            (100, Cut, 100),
            (100, Cut, 50),
            // Two quick full batches in a row double it; one alone does not.
            (50, Quick, 50),
            (50, Quick, 100),
            (100, Quick, 100),
            // A cut in between starts the count again.
            (100, Cut, 100),
            (100, Quick, 100),
            (100, Quick, 200),
            (200, Cut, 200),
            (200, Cut, 100),
            // So does a late answer, which also ends a run of cuts.
            (100, Quick, 100),
            (100, Slow, 100),
            (100, Quick, 100),
            (100, Cut, 100),
            (100, Slow, 100),
            (100, Cut, 100),
            (100, Quick, 100),
            (100, Quick, 200),
            (200, Cut, 200),
            (200, Cut, 100),
            // A short batch (the end of the queue) is an answer, but no sign of room.
            (10, Quick, 100),
            (10, Quick, 100),
            (100, Quick, 100),
            (100, Cut, 100),
            (10, Quick, 100),
            (100, Cut, 100),
            // Refused, busy, never connected: nothing about size, and no answer either.
            (100, Other, 100),
            (100, Cut, 50),
            (50, Quick, 50),
            (50, Other, 50),
            (50, Quick, 100),
            // A timeout halves at once, and ends a run of cuts.
            (100, TimedOut, 50),
            (50, Cut, 50),
            (50, TimedOut, 25),
            (25, Cut, 25),
            (25, Quick, 25),
            (25, Quick, 50),
            (50, Quick, 50),
            (50, Quick, 100),
            // Never above the configured size.
            (100, Quick, 100),
            (100, Quick, 200),
            (200, Quick, 200),
            (200, Quick, 200),
            (200, Quick, 200),
        ];
        for (i, (sent, ending, after)) in steps.iter().enumerate() {
            size.record(*sent, *ending);
            assert_eq!(size.batch, *after, "step {i}: {sent} sales, {ending:?}");
        }
        // Halving stops at one sale; a lone sale cut in flight is sent alone again.
        let mut one = Sizing::new(3);
        for after in [3, 1, 1, 1, 1, 1] {
            one.record(one.batch, Cut);
            assert_eq!(one.batch, after);
        }
        for after in [1, 2, 2, 3, 3, 3] {
            one.record(one.batch, Quick);
            assert_eq!(one.batch, after);
        }
    }

    #[test]
    fn a_lone_sale_cut_three_times_with_answers_between_is_parked_and_cut_again_once_parked() {
        use LoneCut::*;
        let park = |cuts| Park { cuts, again: false };
        let again = Park {
            cuts: 1,
            again: true,
        };
        let mut size = Sizing::new(200);
        // (sale sent alone and cut, answers so far, parked before, what to do with it)
        let steps: &[(&str, u64, bool, LoneCut)] = &[
            ("a", 0, false, Resend),
            // No answer since its last cut (the link still down): it does not count.
            ("a", 0, false, Resend),
            ("a", 0, false, Resend),
            ("a", 1, false, Resend),
            // Several answers between count as one.
            ("a", 5, false, park(3)),
            // Parked, then retried alone and cut: parked again at once, with or without an
            // answer since.
            ("a", 5, true, again),
            ("a", 9, true, again),
            // Each sale counts on its own: another one cut alone starts its own run...
            ("b", 10, false, Resend),
            ("b", 11, false, Resend),
            ("c", 12, false, Resend),
            // ...and the first one, cut again after it, starts over.
            ("b", 13, false, Resend),
            ("b", 14, false, Resend),
            ("b", 15, false, park(3)),
            // A parked sale retried between the cuts of the sale first in line is parked
            // again and leaves that sale's run alone: "y" still parks at its third cut.
            ("y", 16, false, Resend),
            ("x", 17, true, again),
            ("y", 18, false, Resend),
            ("x", 19, true, again),
            ("y", 20, false, park(3)),
        ];
        for (i, (sale, answers, parked, expected)) in steps.iter().enumerate() {
            let got = size.lone_cut(sale, *answers, *parked);
            assert_eq!(got, *expected, "step {i}: {sale} at {answers} answers");
        }

        // An answer to a request carrying the sale ends its run; one to other sales does
        // not (it only shows the server answering).
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(size.lone_cut("d", 30, false), Resend);
        assert_eq!(size.lone_cut("d", 31, false), Resend);
        size.carried(&ids(&["e", "f"]));
        assert_eq!(size.lone_cut("d", 32, false), park(3));
        assert_eq!(size.lone_cut("d", 33, false), Resend);
        assert_eq!(size.lone_cut("d", 34, false), Resend);
        size.carried(&ids(&["e", "d"]));
        assert_eq!(size.lone_cut("d", 35, false), Resend);
        assert_eq!(size.lone_cut("d", 36, false), Resend);

        // Halving and doubling leave the run alone: the batch is one sale all along.
        for ending in [Ending::Cut, Ending::Cut, Ending::TimedOut, Ending::Other] {
            size.record(1, ending);
        }
        assert_eq!(size.batch, 1);
        assert_eq!(size.lone_cut("d", 37, false), park(3));
        // A fresh drain (the queue was found empty) starts with no run.
        let mut fresh = Sizing::new(200);
        assert_eq!(fresh.lone_cut("d", 37, false), Resend);
    }

    #[test]
    fn one_stores_answers_never_restart_another_stores_run_of_cuts() {
        let mut all = Sizings::new(10);
        // Store b's batch is cut, store a's is answered, b's is cut again: b halves.
        all.of("b").record(10, Ending::Cut);
        all.of("a").record(10, Ending::Quick);
        all.of("b").record(10, Ending::Cut);
        assert_eq!((all.of("a").batch, all.of("b").batch), (10, 5));
        // And b's lone run survives a's answers the same way.
        assert_eq!(all.of("b").lone_cut("x", 1, false), LoneCut::Resend);
        all.of("a").carried(&["y".to_string()]);
        all.of("a").record(10, Ending::Quick);
        assert_eq!(all.of("b").lone_cut("x", 2, false), LoneCut::Resend);
        assert_eq!(
            all.of("b").lone_cut("x", 3, false),
            LoneCut::Park {
                cuts: 3,
                again: false
            }
        );
    }

    #[test]
    fn a_sale_parked_for_cuts_says_what_happened_and_what_to_look_at() {
        // Any error stands for the last cut here: its text is only quoted.
        let e = SyncError::Inconsistent {
            request: Request::Upload,
            what: "connection reset".into(),
        };
        let first = cut_alone(3, false, Ending::Cut, 40_960, &e);
        assert!(
            first.starts_with(
                "the upload of this sale (40960 bytes) was cut in flight 3 times in a row \
                 when sent alone, while the server answered other requests: probably a proxy \
                 or firewall limiting request size ("
            ),
            "{first}"
        );
        let again = cut_alone(1, true, Ending::Cut, 40_960, &e);
        assert!(
            again.contains("was cut in flight again when retried alone: probably a proxy"),
            "{again}"
        );
        let stalled = cut_alone(3, false, Ending::TimedOut, 40_960, &e);
        assert!(
            stalled.contains(
                "was left unanswered until the request timeout 3 times in a row when sent alone"
            ),
            "{stalled}"
        );
    }

    /// What a one-connection endpoint on loopback does with the request it accepts.
    #[derive(Clone, Copy, Debug)]
    enum Endpoint {
        /// Nothing listens on the port.
        Closed,
        /// Reads a few bytes of the request and closes with the rest unread (a reset).
        Reset,
        /// Reads the whole request and closes without a word.
        HangsUp,
        /// Answers 200 with a body shorter than its `content-length`, then closes.
        ShortBody,
        /// Reads the whole request and never answers.
        Silent,
        /// Answers 503.
        Busy,
    }

    /// Reads one HTTP request (head and `content-length` body).
    fn read_request(stream: &mut std::net::TcpStream) {
        use std::io::Read;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return;
            }
            got.extend_from_slice(&buf[..n]);
            let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return;
            }
        }
    }

    /// Starts `endpoint` on a loopback port for one connection; its URL.
    fn start(endpoint: Endpoint) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        if let Endpoint::Closed = endpoint {
            return url;
        }
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            match endpoint {
                Endpoint::Closed => {}
                Endpoint::Reset => {
                    // Closing with unread bytes makes the kernel send a reset.
                    let mut some = [0u8; 16];
                    let _ = stream.read_exact(&mut some);
                }
                Endpoint::HangsUp => read_request(&mut stream),
                Endpoint::ShortBody => {
                    read_request(&mut stream);
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                          content-length: 400\r\n\r\n{\"results\":[",
                    );
                }
                Endpoint::Silent => {
                    read_request(&mut stream);
                    // Until the client gives up and closes.
                    let _ = stream.read(&mut [0u8; 1]);
                }
                Endpoint::Busy => {
                    read_request(&mut stream);
                    let _ = stream.write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
                    );
                }
            }
        });
        url
    }

    #[test]
    fn a_reset_a_hang_up_a_short_answer_and_a_timeout_cut_a_request_and_nothing_else_does() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // (endpoint, how the request ended, whether anything answered it)
        let cases = [
            (Endpoint::Reset, Ending::Cut, false),
            (Endpoint::HangsUp, Ending::Cut, false),
            (Endpoint::ShortBody, Ending::Cut, false),
            (Endpoint::Silent, Ending::TimedOut, false),
            (Endpoint::Closed, Ending::Other, false),
            // A 503 without the server's JSON error is a gateway's: no answer either.
            (Endpoint::Busy, Ending::Other, false),
        ];
        for (endpoint, expected, answered) in cases {
            let mut cfg = SyncConfig::new(&start(endpoint), "token");
            cfg.allow_http_loopback = true;
            cfg.request_timeout = crate::sync::config::MIN_TIMEOUT;
            let client = Client::new(&cfg).expect("client");
            let body = protocol::batch_body(&[]);
            let e = runtime
                .block_on(client.upload("s1", "token", body))
                .expect_err("no answer to take");
            assert_eq!(
                Ending::of_failure(&e),
                expected,
                "{endpoint:?}: {}",
                e.chain()
            );
            // Only an answer ends a lone sale's run of cuts.
            assert_eq!(step(Err(e), 1).answered(), answered, "{endpoint:?}");
        }
        // Any answer over HTTP does, the path's refusals and the server's busy included.
        const BUSY: &str = r#"{"error":"busy","message":"store busy"}"#;
        for (status, content_type, body) in [
            (400, HTML, PAGE),
            (413, HTML, PAGE),
            (503, JSON, BUSY),
            (200, JSON, r#"{"results":[]}"#),
        ] {
            let got = step(classify(response(status, content_type, &[], body)), 1);
            assert!(got.answered(), "{status}: {got:?}");
        }
        // A refusal of what the request carried counts toward splitting and parking; a
        // misrouted path, a refused token and a rate limit do not.
        for (status, expected) in [
            (400, Ending::Refused),
            (403, Ending::Refused),
            (415, Ending::Refused),
            (422, Ending::Refused),
            (404, Ending::Other),
            (405, Ending::Other),
            (429, Ending::Other),
            // A body read that timed out on the path or at the server.
            (408, Ending::TimedOut),
            // A block page sent as 200 HTML, or a redirect to one.
            (200, Ending::Refused),
            (302, Ending::Refused),
        ] {
            let e = classify(response(status, HTML, &[], PAGE)).expect_err("a refusal");
            assert_eq!(Ending::of_failure(&e), expected, "{status}: {}", e.chain());
        }
        // The server's own "unsupported protocol" says nothing of the sales.
        let old_server = r#"{"error":"unsupported_protocol","message":"too new"}"#;
        let e = classify(response(400, JSON, &[], old_server)).expect_err("a refusal");
        assert_ne!(Ending::of_failure(&e), Ending::Refused, "{}", e.chain());
        let protocol_403 = r#"{"error":"forbidden","message":"another store's token"}"#;
        let e = classify(response(403, JSON, &[], protocol_403)).expect_err("a refusal");
        assert_eq!(Ending::of_failure(&e), Ending::Other, "{}", e.chain());
    }

    #[test]
    fn refusals_of_a_batchs_content_halve_it_like_cuts_and_park_its_sale_alone() {
        let mut size = Sizing::new(8);
        for expected in [8, 4, 4, 2, 2, 1] {
            size.record(size.batch, Ending::Refused);
            assert_eq!(size.batch, expected);
        }
        let refused = cut_alone(
            3,
            false,
            Ending::Refused,
            512,
            &SyncError::Inconsistent {
                request: Request::Upload,
                what: "HTTP 403, text/html".into(),
            },
        );
        assert!(
            refused.contains(
                "was refused 3 times in a row when sent alone: probably a proxy or firewall \
                 filtering requests, or a server that cannot read this sale"
            ),
            "{refused}"
        );
    }
}
