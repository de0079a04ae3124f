//! `herald send`, `status`, `report` and `cancel` against a running `herald sandbox`.

mod common;

use common::{free_port, herald, sandbox, Sandbox};
use std::process::{Command, Stdio};

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
    let sb = sandbox(&[]);
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

fn curl_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new("curl").arg("-sf").args(args).output().unwrap();
    assert!(out.status.success(), "curl {args:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn send_waits_for_the_answer_and_responses_prints_the_tally() {
    let sb = sandbox(&[]);
    post(&format!(
        "{}/_emulator/users/user4@sandbox.example/install",
        sb.emulator
    ));
    let dir = std::env::temp_dir().join(format!("herald-cli-card-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let card = dir.join("card.json");
    std::fs::write(
        &card,
        r#"{"type": "AdaptiveCard", "version": "1.5",
            "body": [{"type": "TextBlock", "text": "Ship release ${release}, ${givenName}?"},
                     {"type": "Input.Text", "id": "note"}],
            "actions": [{"type": "Action.Submit", "title": "Ship it"}, {"type": "Action.Submit", "title": "Hold"}]}"#,
    )
    .unwrap();
    let data = dir.join("data.json");
    std::fs::write(&data, r#"{"user4@sandbox.example": {"release": "4.2"}}"#).unwrap();
    let child = herald()
        .args(["send", "--to", "user4@sandbox.example", "--card"])
        .arg(&card)
        .arg("--data")
        .arg(&data)
        .args([
            "--wait-response",
            "--update-message",
            "Shipping.",
            "--timeout",
            "10m",
        ])
        .env("HERALD_SERVER", &sb.base)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The card arrives, bound to the recipient's data; the user presses "Ship it".
    let transcript = format!(
        "{}/_emulator/users/user4@sandbox.example/transcript",
        sb.emulator
    );
    let mut card_id = None;
    for _ in 0..200 {
        let t = curl_json(&[&transcript]);
        // The welcome comes first; the card is the activity with an attachment.
        let found = t["activities"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["attachments"].is_array()).cloned());
        if let Some(a) = found {
            assert!(a.to_string().contains("Ship release 4.2"), "{a}");
            card_id = a["id"].as_str().map(str::to_owned);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let card_id = card_id.expect("the card arrived");
    let body =
        serde_json::json!({"activityId": card_id, "action": "Ship it", "inputs": {"note": "go"}});
    curl_json(&[
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        &body.to_string(),
        &format!(
            "{}/_emulator/users/user4@sandbox.example/actions",
            sb.emulator
        ),
    ]);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Ship it") && stdout.contains(r#""note":"go""#),
        "{stdout}"
    );
    let id_line = String::from_utf8_lossy(&out.stderr).into_owned();
    let id = id_line.split(':').next().unwrap().trim().to_owned();
    let (code, table, err) = run(&sb, &["responses", &id]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        table.contains("Ship it") && table.contains("answered"),
        "{table}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
