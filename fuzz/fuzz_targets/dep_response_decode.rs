//! DEP API answers: the first byte picks the endpoint (low nibble) and the
//! HTTP status (high nibble), the rest is the body. The answer goes through
//! `Session::handle_response` as a client's would (typed parsing, error
//! codes in every body form, `Retry-After`, the session header), and device
//! pages on into the sync state machine. Nothing may panic.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use dep_client::{
    ActivationLock, ActivationLockRequest, AssignProfile, Config, CursorState, DefineProfile,
    DeviceDetails, DisownDevices, Endpoint, FetchDevices, GetAccount, GetProfile, OAuthCredentials,
    Profile, RemoveProfile, Reply, Session, SyncConfig, SyncDevices, SyncMachine,
};
use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 8] = [200, 400, 401, 403, 404, 429, 500, 503];

fn session() -> Session {
    let creds = OAuthCredentials {
        consumer_key: "CK".into(),
        consumer_secret: "CS".into(),
        access_token: "AT".into(),
        access_secret: "AS".into(),
    };
    // Infallible for the default configuration.
    let mut s = Session::new(creds, Arc::new(Config::default())).expect("default config");
    let login = http::Response::builder()
        .status(200)
        .body(&br#"{"auth_session_token":"t"}"#[..])
        .expect("a valid response");
    s.handle_auth_response(&login).expect("a valid sign-in");
    s
}

fn run<E: Endpoint>(endpoint: &E, response: &http::Response<&[u8]>) -> Option<E::Output> {
    match session().handle_response(endpoint, response) {
        Ok(Reply::Done(v)) => Some(v),
        Ok(Reply::Reauthenticate(e)) => {
            assert!(e.status == 401 || e.status == 403);
            None
        }
        Err(e) => {
            let _ = (e.to_string(), e.is_retryable());
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(selector >> 4) % STATUSES.len()];
    let mut builder = http::Response::builder().status(status);
    if selector & 0x08 != 0 {
        builder = builder
            .header("Retry-After", "Wed, 21 Oct 2015 07:28:30 GMT")
            .header("Date", "Wed, 21 Oct 2015 07:28:00 GMT")
            .header("X-ADM-Auth-Session", "rotated");
    } else {
        builder = builder.header("Retry-After", "3");
    }
    let Ok(response) = builder.body(body) else {
        return;
    };
    let serials = vec!["C02".to_owned()];
    match selector & 0x07 {
        0 => {
            let _ = run(&GetAccount, &response);
        }
        1 | 2 => {
            // A page (or error) for the sync machine, in either phase.
            let state = if selector & 1 == 0 {
                CursorState::synced("c")
            } else {
                CursorState::resume("c")
            };
            let now = Instant::now();
            let mut m = SyncMachine::new(SyncConfig::default(), state, now);
            let Some(request) = m.poll_request(now) else {
                return;
            };
            let result = match session().handle_response(&request, &response) {
                Ok(Reply::Done(page)) => Ok(page),
                Ok(Reply::Reauthenticate(e)) => Err(dep_client::Error::Api(e)),
                Err(e) => Err(e),
            };
            m.handle_response(now, std::time::SystemTime::UNIX_EPOCH, result);
            let mut events = 0;
            while m.poll_event().is_some() {
                events += 1;
            }
            assert!(events > 0);
            assert!(m.poll_timeout().is_some());
            let later = now + Duration::from_secs(86_400);
            let _ = m.poll_request(later);
            let _ = run(&FetchDevices::new(None, 1000), &response);
            let _ = run(&SyncDevices::new("c", 1000), &response);
        }
        3 => {
            let _ = run(&DeviceDetails { devices: serials }, &response);
        }
        4 => {
            let _ = run(
                &DisownDevices {
                    devices: serials.clone(),
                },
                &response,
            );
            let _ = run(
                &RemoveProfile {
                    devices: serials,
                    profile_uuid: None,
                },
                &response,
            );
        }
        5 => {
            let profile = Profile::new("p", "https://mdm.example.com");
            let _ = run(&DefineProfile { profile }, &response);
            let _ = run(
                &GetProfile {
                    profile_uuid: "p".into(),
                },
                &response,
            );
        }
        6 => {
            let _ = run(
                &AssignProfile {
                    profile_uuid: "p".into(),
                    devices: serials,
                },
                &response,
            );
        }
        _ => {
            let request = ActivationLockRequest {
                device: "C02".into(),
                escrow_key: None,
                lost_message: None,
            };
            let _ = run(&ActivationLock { request }, &response);
            let mut s = session();
            let _ = s.handle_auth_response(&response);
        }
    }
});
