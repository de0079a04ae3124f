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

#[test]
fn login_by_device_code_then_logout() {
    let mut emu = herald()
        .args(["emulator", "--users", "5", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(emu.stdout.take().unwrap());
    let mut env = Vec::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        if let Some(kv) = line.trim().strip_prefix("export ") {
            let (k, v) = kv.split_once('=').unwrap();
            env.push((k.to_owned(), v.trim_matches('\'').to_owned()));
        }
        let done = line.contains("/_emulator/stats");
        line.clear();
        if done {
            break;
        }
    }
    let origin = env
        .iter()
        .find(|(k, _)| k == "HERALD_LOGIN_URL")
        .unwrap()
        .1
        .clone();
    let db = std::env::temp_dir().join(format!("herald-login-{}.db", std::process::id()));
    let with_env = |c: &mut Command| {
        c.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("HERALD_DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("HERALD_SECRET_KEY", "cli-test-secret-key-0123456789abcdef");
    };
    let mut cmd = herald();
    cmd.arg("login");
    with_env(&mut cmd);
    let mut login = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The identity platform's message names the code; the user enters it (here: the control API).
    let mut err = BufReader::new(login.stderr.take().unwrap());
    let mut message = String::new();
    while !message.contains("enter the code") {
        message.clear();
        assert!(
            err.read_line(&mut message).unwrap() > 0,
            "login ended without a code"
        );
    }
    let code = message
        .split_whitespace()
        .skip_while(|w| *w != "code")
        .nth(1)
        .unwrap_or_else(|| panic!("the message names a code: {message}"))
        .to_owned();
    let status = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
        ])
        .arg(format!(
            r#"{{"userCode": "{code}", "user": "user2@sandbox.example"}}"#
        ))
        .arg(format!("{origin}/_emulator/devicelogin"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let done = login.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert_eq!(done.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("signed in as user2@sandbox.example"),
        "{stdout}"
    );
    let mut cmd = herald();
    cmd.args(["logout", "user2@sandbox.example"]);
    with_env(&mut cmd);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut cmd = herald();
    cmd.args(["logout", "user2@sandbox.example"]);
    with_env(&mut cmd);
    assert!(
        !cmd.output().unwrap().status.success(),
        "not signed in any more"
    );
    emu.kill().unwrap();
    emu.wait().unwrap();
    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(format!("{}{suffix}", db.display())).ok();
    }
}
