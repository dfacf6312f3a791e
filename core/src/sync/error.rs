//! Why a sync request failed, sorted by what the engine does about it, with the cause kept
//! as the error's source. Messages are for the status line; they never hold a token or a body.

use std::time::Duration;

use super::protocol::ProtocolRange;

/// Which request of the protocol failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `GET /v1/health`.
    Health,
    /// `POST .../sales/batch`.
    Upload,
    /// `GET .../catalog`.
    Catalog,
    /// `GET .../registers/{register}/last-seq`.
    LastSeq,
    /// `POST /v1/pair`.
    Pair,
    /// `GET .../sales/lookup`.
    SaleLookup,
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Request::Health => "health check",
            Request::Upload => "upload",
            Request::Catalog => "catalogue download",
            Request::LastSeq => "receipt number check",
            Request::Pair => "pairing",
            Request::SaleLookup => "sale lookup",
        })
    }
}

/// An answer that was not the protocol's: what the device saw of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The request it answered.
    pub request: Request,
    /// Its HTTP status.
    pub status: u16,
    /// Its `Content-Type`, if any (lower case, parameters dropped).
    pub content_type: Option<String>,
    /// The server's typed error (`code: message`), when the body was the protocol's error body.
    pub typed: Option<String>,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        match (&self.typed, &self.content_type) {
            (Some(typed), _) => write!(f, " {typed}"),
            (None, Some(ct)) => write!(f, ", {ct}, probably a proxy"),
            (None, None) => write!(f, ", no content type, probably a proxy"),
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No answer (connect refused, reset, DNS, TLS): the server is unreachable.
    #[error("server unreachable")]
    Network(#[source] reqwest::Error),
    /// TLS refused the server (an untrusted or wrong-host certificate, a pin mismatch).
    #[error("{why}")]
    Tls {
        why: String,
        #[source]
        source: reqwest::Error,
    },
    /// The request went out but no answer came within the request timeout.
    #[error("no answer in time")]
    Timeout(#[source] reqwest::Error),
    /// An error status (5xx) without the server's own error body: a load balancer, reverse
    /// proxy or captive portal answered because the server did not (502/503/504 pages). The
    /// server is unreachable, as if nothing had answered; any `Retry-After` is the page's, not
    /// the server's, and is not honoured: the engine probes the server's health instead.
    #[error("server unreachable: the {} got {answer} instead of the server's answer", answer.request)]
    Gateway { answer: Answer },
    /// The server's own 5xx (its JSON error body), or a 429 from anyone: try again later, not
    /// before `retry_after` (capped by the engine).
    #[error("the server is busy: HTTP {status} to the {request}; retrying")]
    Busy {
        request: Request,
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The whole request was refused (400, 404, 405, 413, 415, 422...): nothing of it counts
    /// as the server's verdict on a sale, so the sales stay queued.
    #[error("the server refused the {}: {answer}", answer.request)]
    Refused { answer: Answer },
    /// A success status whose body is not the protocol's answer (HTML, truncated, wrong type).
    #[error("the server's answer to the {} was unreadable: {answer}", answer.request)]
    BadResponse {
        answer: Answer,
        #[source]
        source: Option<serde_json::Error>,
    },
    /// A redirect (3xx), never followed: a captive portal or a misconfigured proxy. The
    /// request is refused as a whole; the sales stay queued.
    #[error("the {request} was redirected (HTTP {status}{}), probably a captive portal or a misconfigured proxy; not followed", location_text(location.as_deref()))]
    Redirected {
        request: Request,
        status: u16,
        /// Where to, without its query (which may carry a portal's session).
        location: Option<String>,
    },
    /// An answer that does not fit the request (another store's catalogue, sales not asked about).
    #[error("the server's answer to the {request} made no sense: {what}")]
    Inconsistent { request: Request, what: String },
    /// The protocol's 401/403: the token is unknown, revoked or for another store.
    #[error("the server refused this register's token (HTTP {status}): {message}")]
    Auth { status: u16, message: String },
    /// The server cannot serve this app's protocol version.
    #[error("{}", incompatibility_text(*ours, *server))]
    Incompatible { ours: u32, server: ProtocolRange },
    /// The device's own storage failed; nothing was lost.
    #[error("local storage failed")]
    Local(#[source] crate::Error),
}

fn location_text(location: Option<&str>) -> String {
    location.map(|l| format!(" to {l}")).unwrap_or_default()
}

fn incompatibility_text(ours: u32, server: ProtocolRange) -> String {
    let side = if ours > server.max {
        "server too old for this app"
    } else {
        "this app is too old for the server"
    };
    format!(
        "{side}: the app speaks sync protocol {ours}, the server {}..={}; sales stay queued",
        server.min, server.max
    )
}

impl SyncError {
    /// True when nothing answered at all (refused, reset, timed out): the server or the
    /// path to it is down, as opposed to an answer that refused or failed the request.
    /// A gateway's error page in the server's place counts as no answer.
    pub fn is_unanswered(&self) -> bool {
        matches!(
            self,
            SyncError::Network(_) | SyncError::Timeout(_) | SyncError::Gateway { .. }
        )
    }

    /// True when the request went out and its answer never came whole: the connection was
    /// reset or closed, the answer's body was cut short, or it timed out. A connection that
    /// could not be made (refused, connect timeout) is no cut: nothing was sent.
    pub fn is_cut(&self) -> bool {
        matches!(self, SyncError::Network(e) | SyncError::Timeout(e) if !e.is_connect())
    }

    /// True when something answered over HTTP and the answer is no reason to wait (anything
    /// but 5xx and 429, and a gateway's page): the server, or whatever sits in front of it, is there, so the
    /// upload itself is worth trying again.
    pub fn is_answered(&self) -> bool {
        matches!(
            self,
            SyncError::Refused { .. }
                | SyncError::Redirected { .. }
                | SyncError::BadResponse { .. }
                | SyncError::Inconsistent { .. }
                | SyncError::Auth { .. }
                | SyncError::Incompatible { .. }
        )
    }

    /// True when the failure concerns one store's request only (a refusal, an unreadable or
    /// inconsistent answer, a busy answer): the other stores' uploads go on in the round.
    /// No answer at all, a protocol mismatch or local storage failing concern every store.
    pub fn is_per_store(&self) -> bool {
        matches!(
            self,
            SyncError::Refused { .. }
                | SyncError::Redirected { .. }
                | SyncError::BadResponse { .. }
                | SyncError::Inconsistent { .. }
                | SyncError::Busy { .. }
                | SyncError::Auth { .. }
        )
    }

    /// True for a refusal of what the request carried, by the path (a WAF's HTML 400 or
    /// 403) or by a server that cannot read it: 400, 403 (not the protocol's token refusal,
    /// which is `Auth`), 406, 415 and 422. Not a misrouted path (404, 405), not 401, 408,
    /// 413 or 429, which say other things. A batch refused so is split; one sale refused
    /// so alone, again and again, is parked (see `upload::drain`).
    pub fn is_content_refusal(&self) -> bool {
        matches!(self, SyncError::Refused { answer }
            if matches!(answer.status, 400 | 403 | 406 | 415 | 422)
                && !answer.typed.as_deref().is_some_and(|t| t.starts_with(super::protocol::UNSUPPORTED_PROTOCOL)))
    }

    /// True for `413`: the batch is too large for the path; split it.
    pub fn is_too_large(&self) -> bool {
        matches!(self, SyncError::Refused { answer } if answer.status == 413)
    }

    /// How long the answer asked the device to wait before trying again (`Retry-After` on a
    /// 5xx or 429), never beyond `cap`: no header stops a register for longer.
    pub fn retry_after(&self, cap: Duration) -> Option<Duration> {
        match self {
            SyncError::Busy { retry_after, .. } => retry_after.map(|r| r.min(cap)),
            _ => None,
        }
    }

    /// The message and every cause, for the status line and logs.
    pub fn chain(&self) -> String {
        chain(self)
    }
}

impl From<crate::Error> for SyncError {
    fn from(e: crate::Error) -> Self {
        SyncError::Local(e)
    }
}

/// `error: cause: cause...`, skipping a cause its parent's message already repeats.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, content_type: Option<&str>, typed: Option<&str>) -> Answer {
        Answer {
            request: Request::Upload,
            status,
            content_type: content_type.map(String::from),
            typed: typed.map(String::from),
        }
    }

    #[test]
    fn a_refusal_says_what_was_refused_how_and_who_probably_answered() {
        let html = SyncError::Refused {
            answer: answer(400, Some("text/html"), None),
        };
        assert_eq!(
            html.chain(),
            "the server refused the upload: HTTP 400, text/html, probably a proxy"
        );
        let typed = SyncError::Refused {
            answer: answer(
                404,
                Some("application/json"),
                Some("not_found: no such route"),
            ),
        };
        assert_eq!(
            typed.chain(),
            "the server refused the upload: HTTP 404 not_found: no such route"
        );
        assert!(
            SyncError::Refused {
                answer: answer(413, None, None)
            }
            .is_too_large()
        );
        let old = SyncError::Incompatible {
            ours: 2,
            server: ProtocolRange { min: 1, max: 1 },
        };
        assert!(old.chain().starts_with("server too old for this app"));
        let new = SyncError::Incompatible {
            ours: 1,
            server: ProtocolRange { min: 2, max: 3 },
        };
        assert!(
            new.chain()
                .starts_with("this app is too old for the server")
        );
        let local = SyncError::from(crate::Error::StorageFull);
        assert_eq!(
            local.chain(),
            "local storage failed: the device storage is full; nothing was written"
        );
        assert!(std::error::Error::source(&local).is_some());
    }
}
