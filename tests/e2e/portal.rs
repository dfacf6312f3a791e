//! A captive portal is not the server. The register joins a Wi-Fi whose portal answers every
//! request to the configured server URL (a login page, a redirect to one, some JSON that is
//! not the server's health answer, a `511`): the status stays Offline, the queue is kept
//! whole and nothing is set aside; once the portal lets the traffic through to the real
//! server, every sale uploads exactly once.

use std::collections::HashMap;
use std::time::Duration;

use tillkit_core::sync::Connectivity;
use tillkit_e2e::fixtures::*;
use tillkit_e2e::proxy::{Exchange, Fault, Outcome, Reply};

const WAIT: Duration = Duration::from_secs(30);
const SALES: usize = 3;

fn is_health(e: &Exchange) -> bool {
    e.method == "GET" && e.path == "/v1/health"
}

/// Answered by the portal, not the server.
fn by_portal(e: &Exchange) -> bool {
    matches!(e.fault, Fault::Reply(_)) && e.outcome == Outcome::Answered
}

fn login_page() -> String {
    "<!DOCTYPE html><html><head><title>Guest Wi-Fi</title></head><body>\
     <h1>Welcome</h1><form method=\"post\" action=\"/login\">\
     <input name=\"room\"><button>Connect</button></form></body></html>"
        .into()
}

fn a_captive_portal_keeps_the_register_offline_and_its_queue_whole(portal: Reply) {
    let server = Server::start();
    let proxy = server.proxy();
    let cfg = sync_config(&proxy.url(), &server.token(STORE, "R1"));
    // The catalogue came down on the shop's own network; then the register joins the
    // portal's Wi-Fi, which answers everything sent to the server's URL itself.
    let mut dev = Device::online(STORE, "R1", cfg);
    dev.set_network(false);
    wait_until(WAIT, "the register to read Offline", || {
        dev.engine().status().connectivity == Connectivity::Offline
    });
    proxy.always(|_, _| true, Fault::Reply(portal.clone()));
    let (log, _sub) = watch_status(&dev);
    dev.set_network(true);

    // With nothing queued the engine asks the health route whether the server is there.
    wait_until(WAIT, "a health probe answered by the portal", || {
        proxy
            .exchanges()
            .iter()
            .any(|e| is_health(e) && by_portal(e))
    });
    dev.ring_many(SALES);
    let rung_at = std::time::Instant::now();
    // A page, a redirect or odd JSON is an answer: the upload itself is tried, and refused
    // by the portal. A 5xx page is a gateway's: the server counts as lost and the engine
    // probes its health instead of retrying the upload.
    let tried =
        |e: &Exchange| by_portal(e) && e.started > rung_at && (e.is_upload() || is_health(e));
    wait_until(WAIT, "two requests answered by the portal", || {
        let met: Vec<Exchange> = proxy.exchanges().into_iter().filter(tried).collect();
        met.len() >= 2 && (portal.status >= 500 || met.iter().any(Exchange::is_upload))
    });

    let status = dev.engine().status();
    let during = log.seen();
    assert!(
        !during.is_empty()
            && during
                .iter()
                .all(|s| s.connectivity == Connectivity::Offline),
        "a portal ({} {:?}) was taken for the server: {:?}",
        portal.status,
        portal.content_type,
        during
            .iter()
            .map(|s| (s.connectivity, s.last_error.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(status.pending, SALES as u64, "{status:?}");
    assert_eq!(dev.pending_ids(STORE).len(), SALES);
    assert_none_set_aside(&dev, &log);
    assert!(
        proxy.uploads().iter().all(by_portal),
        "nothing reached the server while the portal answered"
    );

    // The portal lets the register through (the guest logged in, or the shop's Wi-Fi is
    // back): the very same sales upload, each once.
    proxy.clear_always();
    dev.wait_drained(WAIT);
    wait_until(WAIT, "the register to read Online", || {
        dev.engine().status().connectivity == Connectivity::Online
    });
    server.assert_holds_exactly(STORE, &dev.sales);
    assert_none_set_aside(&dev, &log);
    let mut sent: HashMap<String, usize> = HashMap::new();
    for upload in proxy.uploads().iter().filter(|e| e.fault == Fault::Forward) {
        for id in upload.uploaded_ids() {
            *sent.entry(id).or_default() += 1;
        }
    }
    for sale in &dev.sales {
        assert_eq!(
            sent.get(&sale.sale_id.to_string()).copied(),
            Some(1),
            "sale {} reached the server once",
            sale.sale_id
        );
    }
}

#[test]
fn a_portals_login_page_answered_200_html_is_not_the_server() {
    a_captive_portal_keeps_the_register_offline_and_its_queue_whole(
        Reply::status(200).body("text/html; charset=utf-8", login_page()),
    );
}

#[test]
fn a_portals_302_to_its_login_page_is_not_the_server() {
    a_captive_portal_keeps_the_register_offline_and_its_queue_whole(
        Reply::status(302)
            .body("text/html", "<html><body>Moved</body></html>")
            .header(
                "location",
                "http://192.168.1.1:8002/index.php?zone=guest&redirurl=%2Fv1%2Fhealth",
            ),
    );
}

#[test]
fn a_portals_200_json_that_is_not_the_health_answer_is_not_the_server() {
    a_captive_portal_keeps_the_register_offline_and_its_queue_whole(
        Reply::status(200).body(
            "application/json",
            r#"{"status":"unauthenticated","captive":true,"user-portal-url":"https://wifi.example/login"}"#,
        ),
    );
}

#[test]
fn a_portals_511_network_authentication_required_is_not_the_server() {
    a_captive_portal_keeps_the_register_offline_and_its_queue_whole(Reply::status(511).body(
        "text/html",
        "<html><head><title>Network Authentication Required</title>\
             <meta http-equiv=\"refresh\" content=\"0; url=https://wifi.example/login\">\
             </head><body><p>You need to <a href=\"https://wifi.example/login\">\
             authenticate with the local network</a> in order to gain access.</p></body></html>",
    ));
}
