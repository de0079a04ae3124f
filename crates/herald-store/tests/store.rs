//! One suite, two backends: every test runs on a real SQLite file and, when
//! `HERALD_TEST_POSTGRES_URL` is set, on PostgreSQL in a schema of its own.

use herald_store::*;
use std::sync::Arc;

fn reference(n: u32) -> Reference {
    Reference {
        tenant_id: "tenant-1".into(),
        aad_object_id: format!("aad-{n}"),
        user_id: format!("29:user-{n}"),
        user_name: Some(format!("User {n}")),
        upn: Some(format!("user{n}@x.example")),
        bot_id: "28:bot".into(),
        bot_name: Some("Bot".into()),
        conversation_id: Some(format!("a:conv-{n}")),
        conversation_type: "personal".into(),
        channel_id: "msteams".into(),
        service_url: "https://smba.trafficmanager.net/teams/".into(),
        locale: Some("en-US".into()),
        source: Source::PersonalInstall,
    }
}

async fn migrate_is_idempotent(s: Arc<dyn Store>) {
    assert_eq!(
        s.migrate().await.unwrap(),
        Vec::<i64>::new(),
        "already migrated by setup"
    );
    s.ping().await.unwrap();
}

async fn references_round_trip_and_keep_what_an_update_lacks(s: Arc<dyn Store>) {
    let r = reference(1);
    s.upsert_reference(&r, true, 1_000).await.unwrap();
    let got = s.get_reference("tenant-1", "aad-1").await.unwrap().unwrap();
    assert_eq!(got.reference, r);
    assert_eq!(got.state, RefState::Active);
    assert_eq!(got.welcome, WelcomeStatus::Pending);
    assert_eq!((got.created_at, got.updated_at), (1_000, 1_000));

    // A team event knows no conversation and no UPN: the stored ones stay.
    let team_view = Reference {
        conversation_id: None,
        upn: None,
        source: Source::TeamMember,
        ..reference(1)
    };
    s.upsert_reference(&team_view, false, 2_000).await.unwrap();
    let got = s.get_reference("tenant-1", "aad-1").await.unwrap().unwrap();
    assert_eq!(got.reference.conversation_id.as_deref(), Some("a:conv-1"));
    assert_eq!(got.reference.upn.as_deref(), Some("user1@x.example"));
    assert_eq!(got.reference.source, Source::PersonalInstall);
    assert_eq!(got.created_at, 1_000);
    assert_eq!(got.updated_at, 2_000);
    assert!(s
        .get_reference("tenant-1", "nobody")
        .await
        .unwrap()
        .is_none());
    assert!(
        s.get_reference("tenant-2", "aad-1")
            .await
            .unwrap()
            .is_none(),
        "keyed by tenant too"
    );
}

async fn unreachable_is_kept_and_an_install_revives_it(s: Arc<dyn Store>) {
    s.upsert_reference(&reference(1), false, 1).await.unwrap();
    assert!(s
        .mark_unreachable("tenant-1", "aad-1", "uninstalled", 2)
        .await
        .unwrap());
    assert!(!s
        .mark_unreachable("tenant-1", "aad-9", "uninstalled", 2)
        .await
        .unwrap());
    let got = s.get_reference("tenant-1", "aad-1").await.unwrap().unwrap();
    assert_eq!(got.state, RefState::Unreachable);
    assert_eq!(got.unreachable_reason.as_deref(), Some("uninstalled"));
    s.upsert_reference(&reference(1), false, 3).await.unwrap();
    let got = s.get_reference("tenant-1", "aad-1").await.unwrap().unwrap();
    assert_eq!(got.state, RefState::Active);
    assert_eq!(got.unreachable_reason, None);
}

async fn a_welcome_is_claimed_once_however_often_the_install_repeats(s: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.upsert_reference(&reference(7), true, 10).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut claims = Vec::new();
    for _ in 0..10 {
        let s = s.clone();
        claims.push(tokio::spawn(async move {
            s.claim_welcomes(20, 60_000, 10).await.unwrap().len()
        }));
    }
    let mut total = 0;
    for c in claims {
        total += c.await.unwrap();
    }
    assert_eq!(total, 1, "ten concurrent claimers, one welcome");
    s.finish_welcome(
        "tenant-1",
        "aad-7",
        &WelcomeOutcome::Sent {
            activity_id: "act-1".into(),
        },
        30,
    )
    .await
    .unwrap();
    s.upsert_reference(&reference(7), true, 40).await.unwrap();
    assert!(
        s.claim_welcomes(50, 60_000, 10).await.unwrap().is_empty(),
        "a reinstall does not welcome again"
    );
    let got = s.get_reference("tenant-1", "aad-7").await.unwrap().unwrap();
    assert_eq!(got.welcome, WelcomeStatus::Sent);
    assert_eq!(got.welcome_activity_id.as_deref(), Some("act-1"));
}

async fn an_expired_welcome_lease_is_taken_again_and_retries_requeue(s: Arc<dyn Store>) {
    s.upsert_reference(&reference(1), true, 0).await.unwrap();
    assert_eq!(s.claim_welcomes(0, 1_000, 10).await.unwrap().len(), 1);
    assert!(
        s.claim_welcomes(500, 1_000, 10).await.unwrap().is_empty(),
        "leased"
    );
    let again = s.claim_welcomes(1_500, 1_000, 10).await.unwrap();
    assert_eq!(again.len(), 1, "a crashed sender's lease expires");
    let retry = WelcomeOutcome::Retry { not_before: 1_650 };
    s.finish_welcome("tenant-1", "aad-1", &retry, 1_600)
        .await
        .unwrap();
    assert!(
        s.claim_welcomes(1_620, 1_000, 10).await.unwrap().is_empty(),
        "not before its time"
    );
    assert_eq!(s.claim_welcomes(1_700, 1_000, 10).await.unwrap().len(), 1);
    s.finish_welcome(
        "tenant-1",
        "aad-1",
        &WelcomeOutcome::Failed {
            reason: "bad card".into(),
        },
        1_800,
    )
    .await
    .unwrap();
    assert!(s.claim_welcomes(5_000, 1_000, 10).await.unwrap().is_empty());
    assert_eq!(
        s.get_reference("tenant-1", "aad-1")
            .await
            .unwrap()
            .unwrap()
            .welcome,
        WelcomeStatus::Failed
    );
}

async fn welcomes_wait_for_a_reachable_conversation(s: Arc<dyn Store>) {
    s.upsert_reference(&reference(1), true, 0).await.unwrap();
    s.mark_unreachable("tenant-1", "aad-1", "blocked", 1)
        .await
        .unwrap();
    assert!(
        s.claim_welcomes(2, 1_000, 10).await.unwrap().is_empty(),
        "never to an unreachable user"
    );
    let member = Reference {
        conversation_id: None,
        source: Source::TeamMember,
        ..reference(2)
    };
    s.upsert_reference(&member, false, 3).await.unwrap();
    assert_eq!(
        s.get_reference("tenant-1", "aad-2")
            .await
            .unwrap()
            .unwrap()
            .welcome,
        WelcomeStatus::None
    );
    s.upsert_reference(&reference(2), true, 4).await.unwrap();
    s.upsert_reference(&reference(1), true, 5).await.unwrap();
    let claimed: Vec<String> = s
        .claim_welcomes(6, 1_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.reference.aad_object_id)
        .collect();
    assert_eq!(
        claimed,
        vec!["aad-1", "aad-2"],
        "a team member who installs is welcomed"
    );
}

async fn references_page_by_cursor_and_filter_by_state(s: Arc<dyn Store>) {
    for n in 1..=25 {
        s.upsert_reference(&reference(n), false, u64::from(n))
            .await
            .unwrap();
    }
    for n in [3, 9, 20] {
        s.mark_unreachable("tenant-1", &format!("aad-{n}"), "uninstalled", 100)
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .list_references(&ListQuery {
                state: None,
                after,
                limit: 10,
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.seq);
        seen.extend(page.into_iter().map(|r| r.reference.aad_object_id));
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen[0], "aad-1");
    let unreachable = s
        .list_references(&ListQuery {
            state: Some(RefState::Unreachable),
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    let ids: Vec<&str> = unreachable
        .iter()
        .map(|r| r.reference.aad_object_id.as_str())
        .collect();
    assert_eq!(ids, vec!["aad-3", "aad-9", "aad-20"]);
    assert_eq!(s.count_references(None).await.unwrap(), 25);
    assert_eq!(
        s.count_references(Some(RefState::Active)).await.unwrap(),
        22
    );
}

async fn activity_and_teams_are_recorded(s: Arc<dyn Store>) {
    s.upsert_reference(&reference(1), false, 0).await.unwrap();
    assert!(s.record_activity("tenant-1", "aad-1", 42).await.unwrap());
    assert_eq!(
        s.get_reference("tenant-1", "aad-1")
            .await
            .unwrap()
            .unwrap()
            .last_active_at,
        Some(42)
    );
    assert!(!s.record_activity("tenant-1", "aad-404", 42).await.unwrap());

    let team = TeamReference {
        tenant_id: "tenant-1".into(),
        team_id: "19:team@thread.tacv2".into(),
        name: Some("Engineering".into()),
        aad_group_id: Some("group-1".into()),
        general_channel_id: "19:team@thread.tacv2".into(),
        bot_id: "28:bot".into(),
        channel_id: "msteams".into(),
        service_url: "https://smba.trafficmanager.net/teams/".into(),
    };
    s.upsert_team(&team, 1).await.unwrap();
    assert!(s
        .set_team_state("tenant-1", &team.team_id, TeamState::Deleted, 2)
        .await
        .unwrap());
    let got = s
        .get_team("tenant-1", &team.team_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.state, got.team.name.as_deref()),
        (TeamState::Deleted, Some("Engineering"))
    );
    s.upsert_team(
        &TeamReference {
            name: None,
            ..team.clone()
        },
        3,
    )
    .await
    .unwrap();
    let got = s
        .get_team("tenant-1", &team.team_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.state, got.team.name.as_deref()),
        (TeamState::Active, Some("Engineering"))
    );
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{:x}",
        std::process::id(),
        rand::random::<u64>()
    )
}

async fn sqlite() -> (Arc<dyn Store>, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("{}.db", unique("herald_store")));
    let s = open(&format!("sqlite://{}", path.display())).await.unwrap();
    assert_eq!(s.migrate().await.unwrap(), vec![1]);
    (s, path)
}

async fn postgres() -> Option<(Arc<PgStore>, String)> {
    let Ok(url) = std::env::var("HERALD_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED on PostgreSQL: HERALD_TEST_POSTGRES_URL is not set");
        return None;
    };
    let schema = unique("herald_test");
    let s = Arc::new(PgStore::connect_in_schema(&url, &schema).await.unwrap());
    assert_eq!(s.migrate().await.unwrap(), vec![1]);
    Some((s, schema))
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (s, path) = super::sqlite().await;
                    super::$name(s).await;
                    for suffix in ["", "-wal", "-shm"] {
                        std::fs::remove_file(format!("{}{suffix}", path.display())).ok();
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some((s, schema)) = super::postgres().await else { return };
                    super::$name(s.clone()).await;
                    s.drop_schema(&schema).await.unwrap();
                }
            )*
        }
    };
}

on_both!(
    migrate_is_idempotent,
    references_round_trip_and_keep_what_an_update_lacks,
    unreachable_is_kept_and_an_install_revives_it,
    a_welcome_is_claimed_once_however_often_the_install_repeats,
    an_expired_welcome_lease_is_taken_again_and_retries_requeue,
    welcomes_wait_for_a_reachable_conversation,
    references_page_by_cursor_and_filter_by_state,
    activity_and_teams_are_recorded,
);

#[tokio::test]
async fn an_unknown_url_is_refused_without_its_password() {
    let err = open("mysql://root:hunter2@localhost/db")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("sqlite://") && !err.contains("hunter2"),
        "{err}"
    );
}

#[tokio::test]
async fn an_in_memory_sqlite_store_reads_what_it_wrote() {
    let s = open("sqlite::memory:").await.unwrap();
    s.migrate().await.unwrap();
    s.upsert_reference(&reference(1), false, 1).await.unwrap();
    assert!(s
        .get_reference("tenant-1", "aad-1")
        .await
        .unwrap()
        .is_some());
    assert_eq!(s.count_references(None).await.unwrap(), 1);
}
