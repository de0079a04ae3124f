//! Hostile input against a running `herald serve` (its own process, beside `herald emulator`):
//! cards, expressions, CSVs, activities, headers and malformed HTTP. For each, the server must
//! answer (no dropped connection) with a status below 500, `/healthz` must answer within a
//! second, and the process must still be alive. Then a notification whose per-recipient data
//! would make expansion explode is sent: only those recipients' rows fail, the rest are
//! delivered, and `/healthz` keeps answering while it runs.

mod common;

use common::{emulator, free_port, serve, Proc};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "hostile-suite-token";

/// What a case must get.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Exactly this status.
    Status(u16),
    /// Any 4xx.
    Refused,
}

enum Request {
    /// An HTTP request through reqwest.
    Http {
        method: reqwest::Method,
        path: String,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
    },
    /// Bytes written to a fresh TCP connection as they are (malformed HTTP).
    Raw(Vec<u8>),
}

struct Case {
    name: String,
    request: Request,
    expect: Expect,
}

fn notification(name: &str, body: Value, expect: Expect) -> Case {
    Case {
        name: name.into(),
        request: Request::Http {
            method: reqwest::Method::POST,
            path: "/v1/notifications".into(),
            headers: vec![("content-type".into(), b"application/json".to_vec())],
            body: serde_json::to_vec(&body).unwrap(),
        },
        expect,
    }
}

fn raw_notification(name: &str, body: Vec<u8>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        request: Request::Http {
            method: reqwest::Method::POST,
            path: "/v1/notifications".into(),
            headers: vec![("content-type".into(), b"application/json".to_vec())],
            body,
        },
        expect,
    }
}

fn activity(name: &str, body: Vec<u8>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        request: Request::Http {
            method: reqwest::Method::POST,
            path: "/api/messages".into(),
            headers: vec![("content-type".into(), b"application/json".to_vec())],
            body,
        },
        expect,
    }
}

fn get(name: &str, path: &str, headers: Vec<(String, Vec<u8>)>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        request: Request::Http {
            method: reqwest::Method::GET,
            path: path.into(),
            headers,
            body: Vec::new(),
        },
        expect,
    }
}

fn raw(name: &str, bytes: &[u8], expect: Expect) -> Case {
    Case {
        name: name.into(),
        request: Request::Raw(bytes.to_vec()),
        expect,
    }
}

fn card(body: Value) -> Value {
    json!({"type": "AdaptiveCard", "version": "1.5", "body": body})
}

fn text_card(text: &str) -> Value {
    card(json!([{"type": "TextBlock", "text": text}]))
}

fn to_one(message: Value) -> Value {
    json!({"to": {"users": ["user1@sandbox.example"]}, "message": message})
}

/// Ten containers nested, each repeating its content over ten items: 10^10 elements.
fn bomb() -> Value {
    let mut node = json!({"type": "TextBlock", "text": "${$index}"});
    for _ in 0..10 {
        node = json!({"type": "Container", "$data": "${split('0123456789', '')}", "items": [node]});
    }
    card(json!([node]))
}

fn with_service_url(mut activity: Value, url: &str) -> Value {
    activity["serviceUrl"] = json!(url);
    activity
}

fn nested(depth: usize) -> Value {
    let mut node = json!({"type": "TextBlock", "text": "deep"});
    for _ in 0..depth {
        node = json!({"type": "Container", "items": [node]});
    }
    card(json!([node]))
}

fn cases(service_url: &str, tenant: &str) -> Vec<Case> {
    use Expect::*;
    let install = |tenant: &str, aad: &str| {
        json!({
            "type": "installationUpdate", "action": "add", "id": "f:1", "channelId": "msteams",
            "serviceUrl": service_url,
            "from": {"id": "29:1hostile", "aadObjectId": aad},
            "recipient": {"id": "28:bot", "name": "Herald"},
            "conversation": {"id": "a:1hostile", "conversationType": "personal", "tenantId": tenant},
            "channelData": {"tenant": {"id": tenant}},
        })
    };
    let many_members: Vec<Value> = (0..5_000)
        .map(|i| json!({"id": format!("29:m{i}"), "aadObjectId": format!("00000000-0000-4000-8000-{i:012}")}))
        .collect();
    let csv_rows = |n: usize| {
        let mut s = String::from("upn\n");
        for i in 0..n {
            s.push_str(&format!("u{i}@sandbox.example\n"));
        }
        s
    };
    let deep_json = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes();
    vec![
        // --- expressions and templates
        notification("50,000 open parentheses", to_one(json!({"card": text_card(&format!("${{{}", "(".repeat(50_000)))})), Status(413)),
        notification("20,000 parentheses in a closed expression", to_one(json!({"card": text_card(&format!("${{{}1}}", "(".repeat(20_000)))})), Status(422)),
        notification("20,000 negations", to_one(json!({"card": text_card(&format!("${{{}x}}", "!".repeat(20_000)))})), Status(422)),
        notification("an operator chain 1,500 long", to_one(json!({"card": text_card(&format!("${{{}1}}", "1+".repeat(1_500)))})), Status(422)),
        notification("an escape before a multi-byte character", to_one(json!({"card": text_card("${'\\é'}")})), Status(202)),
        notification("a stray multi-byte character in an expression", to_one(json!({"card": text_card("${1 § 2}")})), Status(422)),
        notification("an expansion bomb (10^10 elements)", to_one(json!({"card": bomb()})), Status(413)),
        notification("a squaring replace chain", to_one(json!({"card": text_card("${replace(replace(replace(replace(replace('aaaaaaaaaaaaaaaa', 'a', 'aaaaaaaaaaaaaaaa'), 'a', 'aaaaaaaaaaaaaaaa'), 'a', 'aaaaaaaaaaaaaaaa'), 'a', 'aaaaaaaaaaaaaaaa'), 'a', 'aaaaaaaaaaaaaaaa')}")})), Status(422)),
        notification("json() of a large text, in every repetition", to_one(json!({"card": card(json!([{"type": "TextBlock", "$data": "${split('0123456789abcdef0123456789abcdef', '')}", "$when": "${json(string(split(replace(replace('aaaaaaaaaaaaaaaa', 'a', 'aaaaaaaaaaaaaaaa'), 'a', 'aaaaaaaaaaaaaaaa'), ''))) == null}", "text": "x"}]))})), Status(422)),
        notification("an unknown function", to_one(json!({"card": text_card("${eval('1')}")})), Status(422)),
        notification("an expression over 4 KB", to_one(json!({"card": text_card(&format!("${{'{}'}}", "x".repeat(5_000)))})), Status(422)),
        notification("a card nested 120 levels deep", to_one(json!({"card": nested(60)})), Status(202)),
        notification("a card of 5 MB", to_one(json!({"card": text_card(&"x".repeat(5 << 20))})), Status(413)),
        notification("a card with a non-string type", to_one(json!({"card": card(json!([{"type": {"x": 1}}]))})), Status(422)),
        notification("a card version out of range", to_one(json!({"card": {"type": "AdaptiveCard", "version": "999999999999999999999.1", "body": []}})), Status(422)),
        notification("a $when that is not text", to_one(json!({"card": card(json!([{"type": "TextBlock", "text": "x", "$when": {"a": 1}}]))})), Status(422)),
        notification("a huge updateMessage card", json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"card": {"type": "AdaptiveCard", "version": "1.5", "body": [], "actions": [{"type": "Action.Submit", "title": "OK"}]}}, "options": {"waitForResponse": {"updateMessage": text_card(&"y".repeat(40_000))}}}), Status(413)),
        // --- the request itself
        raw_notification("not JSON at all", vec![0xff, 0xfe, 0x00, 0x01, b'{'], Status(400)),
        raw_notification("JSON nested 100,000 deep", deep_json(100_000), Status(422)),
        raw_notification("a card nested 100,000 deep", [&br#"{"to": {"users": ["user1@sandbox.example"]}, "message": {"card": "#[..], &deep_json(100_000), b"}}"].concat(), Status(400)),
        raw_notification("a lone surrogate", br#"{"to": {"users": ["a@b"]}, "message": {"text": "\ud800"}}"#.to_vec(), Status(400)),
        raw_notification("a number too big for anything", br#"{"to": {"users": ["a@b"]}, "message": {"text": "x"}, "sendAt": 1e999999}"#.to_vec(), Refused),
        raw_notification("a body of 65 MB", vec![b' '; 65 << 20], Status(413)),
        notification("a text of 10 MB", to_one(json!({"text": "x".repeat(10 << 20)})), Status(413)),
        notification("20,000 inline users", json!({"to": {"users": (0..20_000).map(|i| format!("u{i}@sandbox.example")).collect::<Vec<_>>()}, "message": {"text": "x"}}), Status(422)),
        notification("a user id of 1 MB", json!({"to": {"users": ["x".repeat(1 << 20)]}, "message": {"text": "x"}}), Status(422)),
        notification("a team id of 1 MB", json!({"to": {"teams": ["x".repeat(1 << 20)]}, "message": {"text": "x"}}), Status(422)),
        notification("a group that is not a GUID", json!({"to": {"groups": ["../../etc/passwd"]}, "message": {"text": "x"}}), Status(422)),
        notification("a sendAt in year 275760", json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "x"}, "sendAt": "+275760-09-13T00:00:00Z"}), Status(422)),
        notification("a timeout of 2^64-1 seconds", json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"card": {"type": "AdaptiveCard", "version": "1.5", "body": [], "actions": [{"type": "Action.Submit", "title": "OK"}]}}, "options": {"waitForResponse": {"timeoutSeconds": u64::MAX}}}), Status(422)),
        notification("a callback to the metadata service", json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"card": {"type": "AdaptiveCard", "version": "1.5", "body": [], "actions": [{"type": "Action.Submit", "title": "OK"}]}}, "options": {"waitForResponse": {"callbackUrl": "https://169.254.169.254/latest/meta-data/"}}}), Status(422)),
        notification("a callback to an IPv4-mapped loopback", json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"card": {"type": "AdaptiveCard", "version": "1.5", "body": [], "actions": [{"type": "Action.Submit", "title": "OK"}]}}, "options": {"waitForResponse": {"callbackUrl": "https://[::ffff:127.0.0.1]:9/hook"}}}), Status(422)),
        notification("a group chat topic of 10,000 characters", json!({"to": {"users": ["user1@sandbox.example"]}, "message": {"text": "x"}, "options": {"asUser": "user1@sandbox.example", "groupChatTopic": "t".repeat(10_000)}}), Status(422)),
        // --- CSV audiences
        notification("a CSV over max_csv_rows", json!({"to": {"csv": csv_rows(1_001)}, "message": {"text": "x"}}), Status(422)),
        // An open quote runs to the end of the text, as spreadsheets read it.
        notification("a CSV with an open quote", json!({"to": {"csv": "upn,note\nuser1@sandbox.example,\"never closed\n"}, "message": {"text": "x"}}), Status(202)),
        notification("a CSV whose recipient is 1 MB", json!({"to": {"csv": format!("upn\n{}\n", "u".repeat(1 << 20))}, "message": {"text": "x"}}), Status(422)),
        notification("a CSV with 10,000 columns", json!({"to": {"csv": format!("upn,{}\nuser1@sandbox.example,{}\n", (0..10_000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(","), vec!["v"; 10_000].join(","))}, "message": {"text": "x"}}), Status(202)),
        notification("a CSV with a byte-order mark and CRLF", json!({"to": {"csv": "\u{feff}upn,team\r\nuser1@sandbox.example,Eng\r\n"}, "message": {"text": "x"}}), Status(202)),
        notification("a CSV with NUL bytes", json!({"to": {"csv": "upn\nuser1@sandbox.example\u{0}\n\u{0}\u{0}\n"}, "message": {"text": "x"}}), Status(202)),
        notification("a CSV with ragged rows", json!({"to": {"csv": "upn,a,b\nuser1@sandbox.example\n"}, "message": {"text": "x"}}), Status(422)),
        // --- activities (authentication is off in this run, so they reach the lifecycle)
        activity("an activity that is not JSON", b"\x00\x01\x02garbage".to_vec(), Status(400)),
        activity("an activity whose type is a number", br#"{"type": 7}"#.to_vec(), Status(400)),
        activity("an activity of 2 MB", vec![b' '; 2 << 20], Status(413)),
        activity("an activity nested 100,000 deep", deep_json(100_000), Status(400)),
        activity("an install from a service URL off the allow-list", serde_json::to_vec(&json!({"type": "installationUpdate", "action": "add", "serviceUrl": "https://evil.example/", "from": {"id": "29:x", "aadObjectId": "x"}, "recipient": {"id": "28:bot"}, "conversation": {"id": "a:x", "tenantId": tenant}, "channelData": {"tenant": {"id": tenant}}})).unwrap(), Status(401)),
        activity("an install through a service URL with encoded slashes", serde_json::to_vec(&with_service_url(install(tenant, "d1d1d1d1-0000-4000-8000-000000000001"), &format!("{service_url}x%2f..%2f..%2f"))).unwrap(), Status(401)),
        activity("an install from another tenant", serde_json::to_vec(&install("11111111-2222-3333-4444-555555555555", "d1d1d1d1-0000-4000-8000-000000000002")).unwrap(), Status(200)),
        activity("an install whose AAD id is 100 KB", serde_json::to_vec(&install(tenant, &"a".repeat(100_000))).unwrap(), Status(200)),
        activity("a team event adding 5,000 members", serde_json::to_vec(&json!({"type": "conversationUpdate", "id": "f:2", "channelId": "msteams", "serviceUrl": service_url, "from": {"id": "29:1", "aadObjectId": "a"}, "recipient": {"id": "28:bot"}, "conversation": {"id": "19:t@thread.tacv2", "conversationType": "channel", "isGroup": true, "tenantId": tenant}, "membersAdded": many_members, "channelData": {"eventType": "teamMemberAdded", "team": {"id": "19:t@thread.tacv2"}, "tenant": {"id": tenant}}})).unwrap(), Status(200)),
        activity("an answer to a card that does not exist", serde_json::to_vec(&json!({"type": "message", "id": "m1", "replyToId": "nope", "value": {"heraldAction": "OK", "x": [[[[[[]]]]]]}, "serviceUrl": service_url, "channelId": "msteams", "from": {"id": "29:1", "aadObjectId": "a"}, "recipient": {"id": "28:bot"}, "conversation": {"id": "a:1", "conversationType": "personal", "tenantId": tenant}, "channelData": {"tenant": {"id": tenant}}})).unwrap(), Status(200)),
        Case { name: "an activity without a content type".into(), request: Request::Http { method: reqwest::Method::POST, path: "/api/messages".into(), headers: vec![], body: b"{}".to_vec() }, expect: Status(415) },
        // --- headers and queries
        get("a 60 KB Authorization header", "/v1/notifications", vec![("authorization".into(), format!("Bearer {}", "x".repeat(60_000)).into_bytes())], Status(401)),
        get("an API key that is not UTF-8", "/v1/notifications", vec![("x-api-key".into(), vec![0xc3, 0x28, 0xa0, 0xa1])], Status(401)),
        get("a limit beyond any page", "/v1/notifications?limit=99999999999999999999", vec![], Status(422)),
        get("a negative cursor", "/v1/installations?cursor=-1", vec![], Status(422)),
        get("a query that is not percent-encoded", "/v1/installations?state=%zz%", vec![], Refused),
        get("a notification id of 10 KB", &format!("/v1/notifications/{}", "n".repeat(10_000)), vec![], Status(404)),
        get("a long poll of a year", "/v1/notifications/x/responses?wait=31536000", vec![], Refused),
        Case { name: "an Idempotency-Key of 300 characters".into(), request: Request::Http { method: reqwest::Method::POST, path: "/v1/notifications".into(), headers: vec![("idempotency-key".into(), "k".repeat(300).into_bytes())], body: serde_json::to_vec(&to_one(json!({"text": "x"}))).unwrap() }, expect: Status(400) },
        Case { name: "an Idempotency-Key that is not visible text".into(), request: Request::Http { method: reqwest::Method::POST, path: "/v1/notifications".into(), headers: vec![("idempotency-key".into(), vec![0x80, 0x81, 0xfe])], body: serde_json::to_vec(&to_one(json!({"text": "x"}))).unwrap() }, expect: Status(400) },
        // --- malformed HTTP
        raw("two Content-Length headers", b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}", Refused),
        raw("a broken chunked body", b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", Refused),
        raw("a request line of garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n", Refused),
        raw("200 headers", format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n", (0..200).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()).as_bytes(), Refused),
        raw("a NUL in the path", b"GET /v1/notifications/\x00 HTTP/1.1\r\nHost: x\r\n\r\n", Refused),
    ]
}

async fn send(http: &reqwest::Client, base: &str, c: &Case) -> Result<u16, String> {
    match &c.request {
        Request::Http {
            method,
            path,
            headers,
            body,
        } => {
            let mut r = http
                .request(method.clone(), format!("{base}{path}"))
                .body(body.clone());
            let custom_auth = headers
                .iter()
                .any(|(k, _)| k == "authorization" || k == "x-api-key");
            if !custom_auth {
                r = r.bearer_auth(TOKEN);
            }
            for (k, v) in headers {
                r = r.header(
                    k.as_str(),
                    reqwest::header::HeaderValue::from_bytes(v).unwrap(),
                );
            }
            let resp = r.send().await.map_err(|e| format!("no answer: {e}"))?;
            let status = resp.status().as_u16();
            // The whole answer must arrive, too.
            resp.bytes()
                .await
                .map_err(|e| format!("the answer was cut: {e}"))?;
            Ok(status)
        }
        Request::Raw(bytes) => {
            let addr = base.trim_start_matches("http://");
            let mut s = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            s.write_all(bytes).await.map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(15), s.read(&mut buf))
                .await
                .map_err(|_| "no answer within 15 s".to_string())?
                .map_err(|e| e.to_string())?;
            let head = String::from_utf8_lossy(&buf[..n]);
            head.split_whitespace()
                .nth(1)
                .and_then(|code| code.parse().ok())
                .ok_or_else(|| format!("not an HTTP answer: {head:?}"))
        }
    }
}

/// `/healthz` must answer 200 within a second.
async fn healthy(http: &reqwest::Client, base: &str) -> Result<(), String> {
    let r = tokio::time::timeout(
        Duration::from_secs(1),
        http.get(format!("{base}/healthz")).send(),
    )
    .await
    .map_err(|_| "/healthz did not answer within 1 s".to_string())?
    .map_err(|e| format!("/healthz: {e}"))?;
    if r.status() != 200 {
        return Err(format!("/healthz answered {}", r.status()));
    }
    Ok(())
}

fn start() -> (Proc, Proc, String, String, String, String) {
    let port = free_port();
    let (emu, mut vars, origin) = emulator(
        30,
        &[
            "--bot-endpoint",
            &format!("http://127.0.0.1:{port}/api/messages"),
            "--rps",
            "0",
        ],
    );
    let db = std::env::temp_dir().join(format!("herald_hostile_{}.db", std::process::id()));
    vars.insert("HERALD_LISTEN".into(), format!("127.0.0.1:{port}"));
    vars.insert(
        "HERALD_DATABASE_URL".into(),
        format!("sqlite://{}", db.display()),
    );
    vars.insert("HERALD_API_TOKENS".into(), format!("hostile:{TOKEN}"));
    vars.insert("HERALD_AUTH_DISABLED".into(), "1".into());
    vars.insert("HERALD_MAX_CSV_ROWS".into(), "1000".into());
    vars.insert("HERALD_WELCOME_TEXT".into(), String::new());
    vars.insert(
        "HERALD_CALLBACK_SECRET".into(),
        "hostile-callback-secret".into(),
    );
    let tenant = vars["HERALD_TENANT_ID"].clone();
    let (srv, base) = serve(&vars);
    let service_url = format!("{origin}/");
    (emu, srv, base, origin, tenant, service_url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_a_clear_answer_and_the_server_lives() {
    let (_emu, mut srv, base, origin, tenant, service_url) = start();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    // Health is asked on a fresh connection each time: a connection the server closed after
    // refusing a body early is the client's to drop, not a sign of ill health.
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // Someone to send to.
    for u in ["user1", "user2", "user3"] {
        let r = http
            .post(format!(
                "{origin}/_emulator/users/{u}@sandbox.example/install"
            ))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let all = cases(&service_url, &tenant);
    assert!(all.len() >= 40, "{} cases", all.len());
    let mut failures = Vec::new();
    for c in &all {
        let got = send(&http, &base, c).await;
        let ok = match (&got, c.expect) {
            (Ok(s), Expect::Status(want)) => *s == want,
            (Ok(s), Expect::Refused) => (400..500).contains(s),
            (Err(_), _) => false,
        };
        if !ok {
            failures.push(format!("{}: got {got:?}, want {:?}", c.name, c.expect));
        }
        if let Err(e) = healthy(&probe, &base).await {
            failures.push(format!("after {}: {e}", c.name));
        }
        assert!(srv.alive(), "the server died on: {}", c.name);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Data that explodes for two recipients: their rows fail, the third gets the card, and the
    // server answers /healthz throughout.
    let items: Vec<u32> = (0..300_000).collect();
    let body = json!({
        "to": {"users": ["user1@sandbox.example", "user2@sandbox.example", "user3@sandbox.example"]},
        "message": {
            "card": card(json!([
                {"type": "TextBlock", "text": "Hello ${givenName}"},
                {"type": "TextBlock", "$data": "${coalesce(items, json('[]'))}", "$when": "${$index < 0}", "text": "never"},
                {"type": "TextBlock", "text": "${coalesce(big, '')}"}
            ])),
            "data": {
                "user2@sandbox.example": {"items": items},
                "user3@sandbox.example": {"big": "z".repeat(40_000)}
            }
        }
    });
    let r = http
        .post(format!("{base}/v1/notifications"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut done = false;
    for _ in 0..300 {
        healthy(&probe, &base).await.unwrap();
        let s: Value = http
            .get(format!("{base}/v1/notifications/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if s["state"] == "completed" {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(done, "the notification finished");
    let rows: Value = http
        .get(format!("{base}/v1/notifications/{id}/deliveries"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let by: std::collections::HashMap<String, (String, String)> = rows["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["recipient"].as_str().unwrap().to_owned(),
                (
                    r["outcome"].as_str().unwrap_or("").to_owned(),
                    r["reason"].as_str().unwrap_or("").to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(by["user1@sandbox.example"], ("delivered".into(), "".into()));
    assert_eq!(
        by["user2@sandbox.example"],
        ("failed".into(), "template_error".into())
    );
    assert_eq!(
        by["user3@sandbox.example"],
        ("failed".into(), "message_too_big".into())
    );
    assert!(srv.alive());
}
