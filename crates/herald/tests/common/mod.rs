//! Starting `herald` processes for the binary's tests: the emulator, `herald serve`, the sandbox.
// Each test file uses part of this.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn herald() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herald"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process, killed when dropped.
pub struct Proc {
    pub child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// SIGTERM, then wait: a graceful stop.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether it is still running (it has not crashed).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Reads the rest of a child's output so that it never blocks on a full pipe.
fn drain(mut out: BufReader<impl std::io::Read + Send + 'static>) {
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
}

/// Starts the emulator (with `extra` flags) and returns it with its `export` settings and origin.
pub fn emulator(users: usize, extra: &[&str]) -> (Proc, HashMap<String, String>, String) {
    let mut child = herald()
        .args([
            "emulator",
            "--users",
            &users.to_string(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut vars = HashMap::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        if let Some(kv) = line.trim().strip_prefix("export ") {
            let (k, v) = kv.split_once('=').unwrap();
            vars.insert(k.to_owned(), v.trim_matches('\'').to_owned());
        }
        let done = line.contains("/_emulator/stats");
        line.clear();
        if done {
            break;
        }
    }
    drain(out);
    let origin = vars["HERALD_LOGIN_URL"].clone();
    (Proc { child }, vars, origin)
}

/// Starts `herald serve` with `vars` and returns it with its base URL.
pub fn serve(vars: &HashMap<String, String>) -> (Proc, String) {
    let mut child = herald()
        .arg("serve")
        .envs(vars)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("herald serve listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    drain(out);
    (Proc { child }, base)
}

/// A running `herald sandbox`.
pub struct Sandbox {
    pub proc: Proc,
    pub base: String,
    pub emulator: String,
}

/// Starts `herald sandbox --users 20` on free ports, with `env` set.
pub fn sandbox(env: &[(&str, &str)]) -> Sandbox {
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
        .env_remove("HERALD_API_TOKENS")
        .env_remove("HERALD_API_TOKEN")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("Herald sandbox"), "{line}");
    drain(out);
    Sandbox {
        proc: Proc { child },
        base: format!("http://127.0.0.1:{api}"),
        emulator: format!("http://127.0.0.1:{emu}"),
    }
}
