//! The emulator and the sandbox stay on loopback unless told otherwise, and the sandbox asks for
//! API tokens when they are set.

mod common;

use common::{herald, sandbox};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

#[test]
fn emulator_and_sandbox_refuse_a_public_address_without_public() {
    for args in [
        vec!["emulator", "--listen", "0.0.0.0:0"],
        vec!["sandbox", "--listen", "0.0.0.0:0"],
        vec!["sandbox", "--emulator-listen", "0.0.0.0:0"],
    ] {
        let out = herald().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--public") && err.contains("not a loopback address"),
            "{args:?}: {err}"
        );
    }
    // With --public it starts, and says where it listens.
    let mut child = herald()
        .args([
            "emulator",
            "--users",
            "2",
            "--listen",
            "0.0.0.0:0",
            "--public",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("listening on"), "{line}");
}

#[tokio::test]
async fn the_sandbox_asks_for_tokens_when_they_are_set() {
    let sb = sandbox(&[("HERALD_API_TOKENS", "laptop:laptop-secret")]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let body = serde_json::json!({"to": {"allInstalled": true}, "message": {"text": "hi"}});
    let url = format!("{}/v1/notifications", sb.base);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let r = http
        .post(&url)
        .bearer_auth("laptop-secret")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let made: serde_json::Value = r.json().await.unwrap();
    assert_eq!(made["createdBy"], "laptop");

    // Without tokens, the sandbox is open to its own machine, and says who made what.
    let open = sandbox(&[]);
    let r = http
        .post(format!("{}/v1/notifications", open.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let made: serde_json::Value = r.json().await.unwrap();
    assert_eq!(made["createdBy"], "sandbox");
}
