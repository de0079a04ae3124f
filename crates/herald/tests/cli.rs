//! The `herald` binary as a user runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// A plain HTTP/1.0 GET, returning the body.
fn http_get(host: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_owned()
}

fn herald() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herald"))
}

#[test]
fn emulator_starts_with_a_thousand_users_and_says_how_to_point_a_bot_at_it() {
    let mut child = herald()
        .args(["emulator", "--users", "1000", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        let done = line.contains("/_emulator/stats");
        lines.push(std::mem::take(&mut line));
        if done {
            break;
        }
    }
    let text = lines.concat();
    let origin = text
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .expect("the origin is printed")
        .to_owned();
    assert!(text.contains("1020 users (20 guests"), "{text}");
    for var in [
        "HERALD_APP_ID=",
        "HERALD_LOGIN_URL=",
        "HERALD_GRAPH_URL=",
        "HERALD_OPENID_METADATA_URL=",
        "HERALD_ALLOWED_SERVICE_URLS=",
    ] {
        assert!(text.contains(var), "{var} missing from:\n{text}");
    }
    assert!(text.contains(&format!(
        "HERALD_OPENID_METADATA_URL={origin}/v1/.well-known/openidconfiguration"
    )));

    // It answers: the tenant is there.
    let body = http_get(origin.trim_start_matches("http://"), "/_emulator/tenant");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["users"].as_array().unwrap().len(), 1020);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_flags_exit_2_and_say_what_is_wrong() {
    let out = herald()
        .args(["emulator", "--faults", "404=0.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("412, 500, 502, 503, 504"), "{err}");

    let out = herald()
        .args(["emulator", "--listen", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_taken_port_is_reported_not_panicked() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let out = herald()
        .args(["emulator", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_tenant_file_is_loaded_and_a_broken_one_is_explained() {
    let dir = std::env::temp_dir().join(format!("herald-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"users":[{"upn":"a@x.example"}],"groups":[{"displayName":"G","memberIds":["zz@x.example"]}]}"#).unwrap();
    let out = herald()
        .args(["emulator", "--listen", "127.0.0.1:0", "--tenant"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("groups[0]") && err.contains("zz@x.example"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
