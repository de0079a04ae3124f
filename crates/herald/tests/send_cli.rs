//! `herald send`, `status`, `report` and `cancel` against a running `herald sandbox`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Sandbox {
    child: Child,
    base: String,
    emulator: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn herald() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herald"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sandbox() -> Sandbox {
    let (api, emu) = (free_port(), free_port());
    let mut child = herald()
        .args([
            "sandbox",
            "--users",
            "20",
            "--listen",
            &format!("127.0.0.1:{api}"),
            "--emulator-listen",
            &format!("127.0.0.1:{emu}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("Herald sandbox"), "{line}");
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    Sandbox {
        child,
        base: format!("http://127.0.0.1:{api}"),
        emulator: format!("http://127.0.0.1:{emu}"),
    }
}

fn post(url: &str) {
    let status = Command::new("curl")
        .args(["-sf", "-X", "POST", url])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{url}");
}

fn run(sb: &Sandbox, args: &[&str]) -> (Option<i32>, String, String) {
    let out = herald()
        .args(args)
        .env("HERALD_SERVER", &sb.base)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn send_follow_status_report_and_exit_codes() {
    let sb = sandbox();
    post(&format!(
        "{}/_emulator/users/user1@sandbox.example/install",
        sb.emulator
    ));
    post(&format!(
        "{}/_emulator/users/user2@sandbox.example/install",
        sb.emulator
    ));

    let (code, out, err) = run(
        &sb,
        &[
            "send",
            "--to",
            "user1@sandbox.example",
            "--to",
            "user2@sandbox.example",
            "--text",
            "Hello",
            "--follow",
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("completed") && out.contains("delivered 2"),
        "{out}"
    );
    // Not a terminal: plain progress lines, no bar escapes.
    assert!(err.contains("completed: 2/2"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    let id = out.split_whitespace().next().unwrap().to_owned();
    let (code, out, _) = run(&sb, &["status", &id]);
    assert_eq!(code, Some(0));
    assert!(out.contains("delivered 2"), "{out}");
    let (code, out, _) = run(&sb, &["report", &id, "--format", "csv"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("recipient,statusCode,succeeded"), "{out}");
    assert_eq!(out.lines().count(), 3);
    let (_, out, _) = run(&sb, &["report", &id]);
    assert!(
        out.contains("user1@sandbox.example") && out.contains("delivered"),
        "{out}"
    );

    // A failed delivery makes the send exit 1.
    let (code, out, err) = run(
        &sb,
        &[
            "send",
            "--to",
            "user3@sandbox.example",
            "--text",
            "x",
            "--follow",
        ],
    );
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("failed"), "{err}");
    // Bad input exits 2 and names the field.
    let (code, _, err) = run(
        &sb,
        &["send", "--to", "nobody@sandbox.example", "--text", "x"],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("/to/users/0"), "{err}");
    let (code, _, _) = run(&sb, &["send", "--to", "user1@sandbox.example"]);
    assert_eq!(code, Some(2), "no message: clap refuses");
    // Scheduled, then canceled.
    let (code, out, _) = run(
        &sb,
        &[
            "send",
            "--to",
            "user1@sandbox.example",
            "--text",
            "later",
            "--send-at",
            "2099-01-01T00:00:00Z",
        ],
    );
    assert_eq!(code, Some(0));
    let id = out.split_whitespace().next().unwrap().to_owned();
    assert!(out.contains("scheduled"), "{out}");
    let (code, out, _) = run(&sb, &["cancel", &id]);
    assert_eq!(code, Some(0));
    assert!(out.contains("canceled"), "{out}");
}

#[test]
fn sandbox_demo_runs_to_its_report() {
    let (api, emu) = (free_port(), free_port());
    let out = herald()
        .args([
            "sandbox",
            "--demo",
            "--users",
            "40",
            "--listen",
            &format!("127.0.0.1:{api}"),
            "--emulator-listen",
            &format!("127.0.0.1:{emu}"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Report"), "{text}");
    assert!(
        text.contains("external_user")
            && text.contains("not_installed")
            && text.contains("blocked"),
        "{text}"
    );
    assert!(text.contains("delivered"), "{text}");
}
