//! `pippinctl apns import` refuses a push certificate whose topic is not the
//! one enrolled devices use, unless `--allow-topic-change`.

use std::process::Command;

use apple_mdm_protocol::EnrollmentId;
use pippin_store::{AuthenticateRecord, TokenUpdateRecord};
use serde_json::Value;
use test_support::{require_peer, tempdir};

const UUID: &str = "3a9d6c20-1b7e-4f55-8c41-0d2e9f6a7b18";

/// Runs pippinctl against the service at `url` (the admin token and CA are
/// found in `data`); returns (success, stdout, stderr).
async fn ctl(url: &str, data: &std::path::Path, rest: &[&str]) -> (bool, String, String) {
    let mut args = vec![
        "--server".to_owned(),
        url.to_owned(),
        "--data-dir".to_owned(),
        data.to_string_lossy().into_owned(),
    ];
    args.extend(rest.iter().map(|x| (*x).to_owned()));
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_pippinctl"))
            .args(&args)
            .env_remove("PIPPIN_TOKEN")
            .env_remove("PIPPIN_SERVER")
            .env_remove("PIPPIN_CA")
            .output()
            .expect("running pippinctl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_a_topic_enrolled_devices_do_not_use() {
    let test = "import_refuses_a_topic_enrolled_devices_do_not_use";
    if !require_peer(test, &["openssl", "version"]) {
        return;
    }
    let pki = tempdir();
    test_support::apns_test_pki(pki.path(), UUID);
    let data = tempdir();
    let mut s = cm_proxy::config::Settings::defaults(data.path().to_path_buf());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    s.listen = format!("127.0.0.1:{port}").parse().unwrap();
    s.public_url = format!("https://127.0.0.1:{port}");
    s.log_stderr = false;
    s.apns_endpoint = "https://127.0.0.1:9".into();
    s.apns_ca = Some(pki.path().join("ca.pem"));
    let bound = cm_proxy::bind(&s).await.unwrap();
    let app = bound.app().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(bound.serve(async move {
        let _ = stopped.await;
    }));
    let url = format!("https://127.0.0.1:{port}");

    // Two devices enrolled under the placeholder topic (no certificate yet).
    let placeholder = app.push.current().topic.clone();
    for n in 1..=2 {
        let device = format!("ENROLLED-{n}");
        app.store
            .authenticate(&AuthenticateRecord {
                device: device.clone(),
                topic: placeholder.clone(),
                now: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        app.store
            .token_update(
                &EnrollmentId::device(device),
                &TokenUpdateRecord {
                    push_token: vec![n; 32],
                    push_magic: "m".into(),
                    topic: placeholder.clone(),
                    now: 2,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let cert = pki.path().join("push.pem").to_string_lossy().into_owned();
    let key = pki.path().join("push.key").to_string_lossy().into_owned();
    let import = ["apns", "import", "--cert", &cert, "--key", &key];
    let (ok, stdout, stderr) = ctl(&url, data.path(), &import).await;
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("409"), "{stderr}");
    assert!(stderr.contains("2 enrolled device(s)"), "{stderr}");
    assert!(
        stderr.contains(&format!("{placeholder} (2 enrolled)")),
        "{stderr}"
    );
    let (ok, stdout, _) = ctl(&url, data.path(), &["apns", "show", "--json"]).await;
    assert!(ok);
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        shown["topic"],
        placeholder.as_str(),
        "nothing was installed"
    );

    let mut confirmed = import.to_vec();
    confirmed.push("--allow-topic-change");
    let (ok, stdout, stderr) = ctl(&url, data.path(), &confirmed).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stderr.contains("warning:"), "{stderr}");
    assert!(stderr.contains("2 enrolled device(s)"), "{stderr}");
    assert!(
        stdout.contains(&format!("com.apple.mgmt.External.{UUID}")),
        "{stdout}"
    );
    let _ = stop.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
}
