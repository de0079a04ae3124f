//! One suite, two backends: every test runs on a real SQLite file and, when
//! `HERALD_TEST_POSTGRES_URL` is set, on PostgreSQL in a schema of its own.

use herald_core::category::OptOut;
use herald_core::ids::*;
use herald_store::*;
use std::sync::Arc;

/// The tenant every fixture lives in.
fn tenant() -> TenantId {
    TenantId::parse("tenant-1").unwrap()
}

fn aad(s: &str) -> AadObjectId {
    AadObjectId::parse(s).unwrap()
}

fn nid(s: &str) -> NotificationId {
    NotificationId::parse(s).unwrap()
}

fn reference(n: u32) -> Reference {
    Reference {
        tenant_id: tenant(),
        aad_object_id: AadObjectId::parse(format!("aad-{n}")).unwrap(),
        user_id: TeamsUserId::parse(format!("29:user-{n}")).unwrap(),
        user_name: Some(format!("User {n}")),
        upn: Some(Upn::parse(format!("user{n}@x.example")).unwrap()),
        bot_id: "28:bot".into(),
        bot_name: Some("Bot".into()),
        conversation_id: Some(ConversationId::parse(format!("a:conv-{n}")).unwrap()),
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
    let got = s
        .get_reference(&tenant(), &aad("aad-1"))
        .await
        .unwrap()
        .unwrap();
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
    let got = s
        .get_reference(&tenant(), &aad("aad-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.reference.conversation_id.as_deref(), Some("a:conv-1"));
    assert_eq!(got.reference.upn.as_deref(), Some("user1@x.example"));
    assert_eq!(got.reference.source, Source::PersonalInstall);
    assert_eq!(got.created_at, 1_000);
    assert_eq!(got.updated_at, 2_000);
    assert!(s
        .get_reference(&tenant(), &aad("nobody"))
        .await
        .unwrap()
        .is_none());
    assert!(
        s.get_reference(&TenantId::parse("tenant-2").unwrap(), &aad("aad-1"))
            .await
            .unwrap()
            .is_none(),
        "keyed by tenant too"
    );
}

async fn unreachable_is_kept_and_an_install_revives_it(s: Arc<dyn Store>) {
    s.upsert_reference(&reference(1), false, 1).await.unwrap();
    assert!(s
        .mark_unreachable(&tenant(), &aad("aad-1"), "uninstalled", 2)
        .await
        .unwrap());
    assert!(!s
        .mark_unreachable(&tenant(), &aad("aad-9"), "uninstalled", 2)
        .await
        .unwrap());
    let got = s
        .get_reference(&tenant(), &aad("aad-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.state, RefState::Unreachable);
    assert_eq!(got.unreachable_reason.as_deref(), Some("uninstalled"));
    s.upsert_reference(&reference(1), false, 3).await.unwrap();
    let got = s
        .get_reference(&tenant(), &aad("aad-1"))
        .await
        .unwrap()
        .unwrap();
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
        &tenant(),
        &aad("aad-7"),
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
    let got = s
        .get_reference(&tenant(), &aad("aad-7"))
        .await
        .unwrap()
        .unwrap();
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
    s.finish_welcome(&tenant(), &aad("aad-1"), &retry, 1_600)
        .await
        .unwrap();
    assert!(
        s.claim_welcomes(1_620, 1_000, 10).await.unwrap().is_empty(),
        "not before its time"
    );
    assert_eq!(s.claim_welcomes(1_700, 1_000, 10).await.unwrap().len(), 1);
    s.finish_welcome(
        &tenant(),
        &aad("aad-1"),
        &WelcomeOutcome::Failed {
            reason: "bad card".into(),
        },
        1_800,
    )
    .await
    .unwrap();
    assert!(s.claim_welcomes(5_000, 1_000, 10).await.unwrap().is_empty());
    assert_eq!(
        s.get_reference(&tenant(), &aad("aad-1"))
            .await
            .unwrap()
            .unwrap()
            .welcome,
        WelcomeStatus::Failed
    );
}

async fn welcomes_wait_for_a_reachable_conversation(s: Arc<dyn Store>) {
    s.upsert_reference(&reference(1), true, 0).await.unwrap();
    s.mark_unreachable(&tenant(), &aad("aad-1"), "blocked", 1)
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
        s.get_reference(&tenant(), &aad("aad-2"))
            .await
            .unwrap()
            .unwrap()
            .welcome,
        WelcomeStatus::None
    );
    s.upsert_reference(&reference(2), true, 4).await.unwrap();
    s.upsert_reference(&reference(1), true, 5).await.unwrap();
    let claimed: Vec<AadObjectId> = s
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
        s.mark_unreachable(
            &tenant(),
            &AadObjectId::parse(format!("aad-{n}")).unwrap(),
            "uninstalled",
            100,
        )
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
    assert!(s
        .record_activity(&tenant(), &aad("aad-1"), 42)
        .await
        .unwrap());
    assert_eq!(
        s.get_reference(&tenant(), &aad("aad-1"))
            .await
            .unwrap()
            .unwrap()
            .last_active_at,
        Some(42)
    );
    assert!(!s
        .record_activity(&tenant(), &aad("aad-404"), 42)
        .await
        .unwrap());

    let team = TeamReference {
        tenant_id: tenant(),
        team_id: ConversationId::parse("19:team@thread.tacv2").unwrap(),
        name: Some("Engineering".into()),
        aad_group_id: Some(aad("group-1")),
        general_channel_id: ConversationId::parse("19:team@thread.tacv2").unwrap(),
        bot_id: "28:bot".into(),
        channel_id: "msteams".into(),
        service_url: "https://smba.trafficmanager.net/teams/".into(),
    };
    s.upsert_team(&team, 1).await.unwrap();
    assert!(s
        .set_team_state(&tenant(), &team.team_id, TeamState::Deleted, 2)
        .await
        .unwrap());
    let got = s.get_team(&tenant(), &team.team_id).await.unwrap().unwrap();
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
    let got = s.get_team(&tenant(), &team.team_id).await.unwrap().unwrap();
    assert_eq!(
        (got.state, got.team.name.as_deref()),
        (TeamState::Active, Some("Engineering"))
    );
}

fn notification(id: &str, key: Option<&str>, body: &str, send_at: Option<u64>) -> NewNotification {
    NewNotification {
        id: NotificationId::parse(id).unwrap(),
        tenant_id: tenant(),
        request: body.into(),
        body_hash: format!("hash-of-{body}"),
        idempotency_key: key.map(str::to_owned),
        send_at,
        created_by: Some("integration-a".into()),
        priority: Priority::Normal,
        keep_together: false,
        remind_after_ms: None,
        events: 0,
        events_url: None,
    }
}

fn recipient(n: u32) -> NewDelivery {
    NewDelivery {
        recipient: format!("user{n}@x.example"),
        recipient_key: format!("aad-{n}"),
        aad_object_id: Some(AadObjectId::parse(format!("aad-{n}")).unwrap()),
        upn: Some(Upn::parse(format!("user{n}@x.example")).unwrap()),
        display_name: None,
        data: None,
        decided: None,
        due_at: None,
    }
}

/// The counts as the rows themselves say, to check the ones the store keeps as rows change.
async fn recount(s: &Arc<dyn Store>, id: &NotificationId) -> Counts {
    let mut c = Counts::default();
    for d in s.list_deliveries(id, 0, 10_000).await.unwrap() {
        if d.read_at.is_some() {
            c.seen += 1;
        }
        let verdict = d.result.map(|v| (v.outcome, v.reason));
        match (d.status, verdict) {
            (DeliveryStatus::Pending | DeliveryStatus::Sending, _) => c.pending += 1,
            (_, Some((Outcome::Delivered, _))) => c.delivered += 1,
            (_, Some((Outcome::Skipped, Some(herald_core::reason::Reason::ChatActive)))) => {
                c.chat_active += 1
            }
            (_, Some((Outcome::Skipped, Some(herald_core::reason::Reason::OptedOut)))) => {
                c.opted_out += 1
            }
            (_, Some((Outcome::Skipped, _))) => c.not_installed += 1,
            (_, Some((Outcome::Canceled, _))) => c.canceled += 1,
            _ => c.failed += 1,
        }
    }
    c
}

fn done(d: &Delivery, outcome: Outcome, code: u16) -> DeliveryResult {
    DeliveryResult {
        notification_id: d.notification_id.clone(),
        seq: d.seq,
        result: Verdict {
            outcome,
            status_code: Some(code),
            reason: None,
        },
        attempts: 1,
        activity_id: Some(format!("act-{}", d.seq)),
        conversation_id: Some(ConversationId::parse("a:conv").unwrap()),
        detail: None,
        wait: None,
        lease_token: d.lease_token,
        possible_duplicate: false,
        events: Default::default(),
    }
}

async fn idempotency_keys_return_the_same_notification_or_a_conflict(s: Arc<dyn Store>) {
    let made = s
        .create_notification(&notification("n0", None, "body-0", None), 10)
        .await
        .unwrap();
    let Created::New(made) = made else {
        panic!("{made:?}")
    };
    assert_eq!(made.created_by.as_deref(), Some("integration-a"));
    assert_eq!(
        s.get_notification(&nid("n0"))
            .await
            .unwrap()
            .unwrap()
            .created_by
            .as_deref(),
        Some("integration-a")
    );
    let a = s
        .create_notification(&notification("n1", Some("k1"), "body-a", None), 10)
        .await
        .unwrap();
    let Created::New(first) = a else {
        panic!("{a:?}")
    };
    assert_eq!(first.state, NotificationState::Resolving);
    let again = s
        .create_notification(&notification("n2", Some("k1"), "body-a", None), 20)
        .await
        .unwrap();
    assert_eq!(again, Created::Existing(first.clone()));
    let other = s
        .create_notification(&notification("n3", Some("k1"), "body-b", None), 30)
        .await
        .unwrap();
    assert_eq!(other, Created::Conflict);
    assert!(s.get_notification(&nid("n2")).await.unwrap().is_none());
    let b = s
        .create_notification(&notification("n4", None, "body-a", Some(1_000)), 40)
        .await
        .unwrap();
    let Created::New(later) = b else { panic!() };
    assert_eq!(later.state, NotificationState::Scheduled);
    assert_eq!(s.start_due(999).await.unwrap(), 0);
    assert_eq!(s.start_due(1_000).await.unwrap(), 1);
    assert_eq!(
        s.get_notification(&nid("n4")).await.unwrap().unwrap().state,
        NotificationState::Resolving
    );
    let listed: Vec<NotificationId> = s
        .list_notifications(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(listed, vec!["n4", "n1", "n0"], "newest first");
    let page2: Vec<NotificationId> = s
        .list_notifications(Some(later.seq), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(page2, vec!["n1", "n0"]);
}

async fn resolution_is_leased_deduplicated_and_resumable(s: Arc<dyn Store>) {
    s.create_notification(&notification("n1", None, "b", None), 0)
        .await
        .unwrap();
    let claimed = s.claim_resolution(100, 1_000).await.unwrap().unwrap();
    assert_eq!(claimed.id, "n1");
    assert!(
        s.claim_resolution(200, 1_000).await.unwrap().is_none(),
        "leased"
    );
    let rows: Vec<NewDelivery> = (1..=5).map(recipient).collect();
    assert_eq!(
        s.insert_deliveries(&nid("n1"), 1, &rows, 300)
            .await
            .unwrap(),
        5
    );
    // A resumed resolution continues after the highest seq; the same recipients are not added twice.
    let next = s.max_delivery_seq(&nid("n1")).await.unwrap() + 1;
    assert_eq!(next, 6);
    let more: Vec<NewDelivery> = (4..=8).map(recipient).collect();
    assert_eq!(
        s.insert_deliveries(&nid("n1"), next, &more, 400)
            .await
            .unwrap(),
        3
    );
    let external = NewDelivery {
        decided: Some(Verdict {
            outcome: Outcome::Failed,
            status_code: Some(403),
            reason: Some(herald_core::reason::Reason::ExternalUser),
        }),
        ..recipient(99)
    };
    s.insert_deliveries(&nid("n1"), 20, &[external], 500)
        .await
        .unwrap();
    assert!(
        s.claim_resolution(1_200, 1_000).await.unwrap().is_some(),
        "an expired lease is taken again"
    );
    s.finish_resolution(&nid("n1")).await.unwrap();
    let n = s.get_notification(&nid("n1")).await.unwrap().unwrap();
    assert_eq!(
        (n.state, n.resolved, n.total),
        (NotificationState::Sending, true, 9)
    );
    let c = s.delivery_counts(&nid("n1")).await.unwrap();
    assert_eq!((c.pending, c.failed, c.total()), (8, 1, 9));
}

async fn deliveries_are_claimed_once_recorded_and_completed(s: Arc<dyn Store>) {
    s.create_notification(&notification("n1", None, "b", None), 0)
        .await
        .unwrap();
    let rows: Vec<NewDelivery> = (1..=100).map(recipient).collect();
    s.insert_deliveries(&nid("n1"), 1, &rows, 0).await.unwrap();
    s.finish_resolution(&nid("n1")).await.unwrap();
    let mut claimers = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        claimers.push(tokio::spawn(async move {
            s.claim_deliveries(10, 60_000, 30).await.unwrap()
        }));
    }
    let mut seen = std::collections::HashSet::new();
    let mut claimed = Vec::new();
    for c in claimers {
        for d in c.await.unwrap() {
            assert!(seen.insert(d.seq), "seq {} claimed twice", d.seq);
            claimed.push(d);
        }
    }
    assert_eq!(claimed.len(), 100);
    claimed.sort_by_key(|d| d.seq);
    assert!(s.claim_deliveries(20, 60_000, 30).await.unwrap().is_empty());
    // 90 delivered, 5 skipped (not installed), 5 left leased: a crashed worker.
    let results: Vec<DeliveryResult> = claimed[..95]
        .iter()
        .map(|d| {
            if d.seq <= 90 {
                done(d, Outcome::Delivered, 200)
            } else {
                done(d, Outcome::Skipped, 100)
            }
        })
        .collect();
    s.record_deliveries(&results, 30).await.unwrap();
    assert!(!s.complete_if_done(&nid("n1"), 40).await.unwrap());
    assert_eq!(
        s.reclaim_expired(50).await.unwrap(),
        0,
        "leases still valid"
    );
    assert_eq!(s.reclaim_expired(70_000).await.unwrap(), 5);
    let again = s.claim_deliveries(70_001, 60_000, 30).await.unwrap();
    assert_eq!(again.len(), 5);
    assert!(again
        .iter()
        .all(|d| d.lease_token.is_some() && d.lease_token != claimed[95].lease_token));
    // The stale worker's late write finds the rows held by another claim: not recorded, and
    // said so; nor can it renew them.
    let stale: Vec<DeliveryResult> = claimed[95..]
        .iter()
        .map(|d| done(d, Outcome::Failed, 500))
        .collect();
    let lost = s.record_deliveries(&stale, 70_002).await.unwrap();
    assert_eq!(lost.len(), 5);
    assert_eq!(
        s.delivery_counts(&nid("n1")).await.unwrap(),
        recount(&s, &nid("n1")).await,
        "a lost write changes no count"
    );
    let lease = |d: &Delivery| Lease {
        notification_id: d.notification_id.clone(),
        seq: d.seq,
        token: d.lease_token.unwrap(),
    };
    let old: Vec<Lease> = claimed[95..].iter().map(lease).collect();
    assert_eq!(s.renew_deliveries(&old, 200_000).await.unwrap(), 0);
    let held: Vec<Lease> = again.iter().map(lease).collect();
    assert_eq!(s.renew_deliveries(&held, 200_000).await.unwrap(), 5);
    assert_eq!(
        s.reclaim_expired(150_000).await.unwrap(),
        0,
        "renewed leases are not taken"
    );
    // The holder's write lands, with its possible duplicate said.
    let lost = s
        .record_deliveries(
            &again
                .iter()
                .map(|d| DeliveryResult {
                    possible_duplicate: d.seq == 96,
                    ..done(d, Outcome::Delivered, 200)
                })
                .collect::<Vec<_>>(),
            70_003,
        )
        .await
        .unwrap();
    assert!(lost.is_empty());
    let d96 = s.get_delivery(&nid("n1"), 96).await.unwrap().unwrap();
    assert!(d96.possible_duplicate && d96.lease_token.is_some());
    assert!(s.complete_if_done(&nid("n1"), 70_004).await.unwrap());
    let n = s.get_notification(&nid("n1")).await.unwrap().unwrap();
    assert_eq!(
        (n.state, n.finished_at),
        (NotificationState::Completed, Some(70_004))
    );
    let c = s.delivery_counts(&nid("n1")).await.unwrap();
    assert_eq!((c.delivered, c.not_installed, c.pending), (95, 5, 0));
    assert_eq!(c, recount(&s, &nid("n1")).await);
    let first = s.get_delivery(&nid("n1"), 1).await.unwrap().unwrap();
    assert_eq!(first.activity_id.as_deref(), Some("act-1"));
    let page = s.list_deliveries(&nid("n1"), 95, 10).await.unwrap();
    assert_eq!(
        page.iter().map(|d| d.seq).collect::<Vec<_>>(),
        vec![96, 97, 98, 99, 100]
    );
    assert_eq!(s.queue_depth().await.unwrap(), 0);
}

async fn cancel_stops_what_has_not_been_sent(s: Arc<dyn Store>) {
    s.create_notification(&notification("n1", None, "b", None), 0)
        .await
        .unwrap();
    s.insert_deliveries(
        &nid("n1"),
        1,
        &(1..=10).map(recipient).collect::<Vec<_>>(),
        0,
    )
    .await
    .unwrap();
    s.finish_resolution(&nid("n1")).await.unwrap();
    let inflight = s.claim_deliveries(1, 60_000, 3).await.unwrap();
    assert!(s.cancel_notification(&nid("n1"), 2).await.unwrap());
    assert!(
        !s.cancel_notification(&nid("n1"), 3).await.unwrap(),
        "already canceled"
    );
    assert!(
        s.claim_deliveries(4, 60_000, 10).await.unwrap().is_empty(),
        "nothing more goes out"
    );
    s.record_deliveries(
        &inflight
            .iter()
            .map(|d| done(d, Outcome::Delivered, 200))
            .collect::<Vec<_>>(),
        5,
    )
    .await
    .unwrap();
    let c = s.delivery_counts(&nid("n1")).await.unwrap();
    assert_eq!((c.delivered, c.canceled, c.pending), (3, 7, 0));
    assert_eq!(c, recount(&s, &nid("n1")).await);
    assert_eq!(
        s.get_notification(&nid("n1")).await.unwrap().unwrap().state,
        NotificationState::Canceled
    );
}

/// Notification `id` with `rows` recipients (user1…), resolved; the first `sent` of them are
/// claimed at 1 and recorded delivered at 2.
async fn with_rows_delivered(s: &Arc<dyn Store>, id: &str, rows: u32, sent: u32) {
    s.create_notification(&notification(id, None, "b", None), 0)
        .await
        .unwrap();
    s.insert_deliveries(
        &nid(id),
        1,
        &(1..=rows).map(recipient).collect::<Vec<_>>(),
        0,
    )
    .await
    .unwrap();
    s.finish_resolution(&nid(id)).await.unwrap();
    let claimed = s.claim_deliveries(1, 60_000, sent).await.unwrap();
    s.record_deliveries(
        &claimed
            .iter()
            .map(|d| done(d, Outcome::Delivered, 200))
            .collect::<Vec<_>>(),
        2,
    )
    .await
    .unwrap();
}

async fn an_erased_person_leaves_rows_that_still_add_up_and_say_nothing_of_them(s: Arc<dyn Store>) {
    // user1 and user2 get theirs; user3 and user4 wait.
    with_rows_delivered(&s, "n1", 4, 2).await;
    s.set_opt_out(&tenant(), &aad("aad-3"), &OptOut::All, true, 2)
        .await
        .unwrap();
    for n in [1, 3] {
        let who = Person {
            tenant_id: tenant(),
            aad_object_id: Some(aad(&format!("aad-{n}"))),
            names: vec![format!("USER{n}@x.example")],
        };
        let e = s.erase_person(&who, 3).await.unwrap();
        assert_eq!(e.deliveries, 1, "user{n}");
        assert_eq!(
            e.canceled,
            u64::from(n == 3),
            "user{n}: canceled only if not sent"
        );
        assert_eq!(e.preferences, u64::from(n == 3));
        // Erasing again finds nothing.
        let again = s.erase_person(&who, 4).await.unwrap();
        assert_eq!(
            (again.deliveries, again.canceled, again.preferences),
            (0, 0, 0)
        );
    }
    let c = s.delivery_counts(&nid("n1")).await.unwrap();
    assert_eq!((c.delivered, c.canceled, c.pending), (2, 1, 1));
    assert_eq!(c, recount(&s, &nid("n1")).await);
    let rows = s.list_deliveries(&nid("n1"), 0, 100).await.unwrap();
    let names: Vec<&str> = rows.iter().map(|d| d.recipient.as_str()).collect();
    assert_eq!(
        names,
        ["erased", "user2@x.example", "erased", "user4@x.example"]
    );
    for d in rows.iter().filter(|d| d.recipient == "erased") {
        assert_eq!((d.aad_object_id.as_ref(), d.upn.as_ref()), (None, None));
        assert_eq!(d.activity_id, None);
    }
    assert_eq!(
        rows[1].activity_id.as_deref(),
        Some("act-2"),
        "others keep theirs"
    );
    assert!(s
        .opt_outs(&tenant(), &aad("aad-3"))
        .await
        .unwrap()
        .is_empty());
    // The notification's request text is the engine's to rewrite: the store finds it.
    let found = s
        .requests_mentioning(&["b".to_owned(), "nobody_%".to_owned()])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(
        s.requests_mentioning(&["_".to_owned()])
            .await
            .unwrap()
            .is_empty(),
        "LIKE wildcards are literal"
    );
    s.replace_request(&nid("n1"), "c").await.unwrap();
    assert_eq!(
        s.get_notification(&nid("n1"))
            .await
            .unwrap()
            .unwrap()
            .request,
        "c"
    );
}

async fn notifications_past_retention_are_purged_a_step_at_a_time(s: Arc<dyn Store>) {
    with_rows_delivered(&s, "n1", 7, 10).await;
    assert!(s.complete_if_done(&nid("n1"), 3).await.unwrap());
    // n2 is still going: never purged, however old.
    s.create_notification(&notification("n2", None, "c", None), 0)
        .await
        .unwrap();
    s.insert_deliveries(&nid("n2"), 1, &[recipient(1)], 0)
        .await
        .unwrap();
    assert_eq!(
        s.purge_finished(3, 5).await.unwrap(),
        Purged::default(),
        "not older than the cutoff"
    );
    assert_eq!(
        s.purge_finished(10, 5).await.unwrap(),
        Purged {
            notifications: 0,
            deliveries: 5
        }
    );
    assert!(
        s.get_notification(&nid("n1")).await.unwrap().is_some(),
        "kept until its rows are gone"
    );
    assert_eq!(
        s.purge_finished(10, 5).await.unwrap(),
        Purged {
            notifications: 1,
            deliveries: 2
        }
    );
    assert!(s.get_notification(&nid("n1")).await.unwrap().is_none());
    assert_eq!(
        s.delivery_counts(&nid("n1")).await.unwrap(),
        Counts::default()
    );
    assert_eq!(s.purge_finished(10, 5).await.unwrap(), Purged::default());
    assert!(s.get_notification(&nid("n2")).await.unwrap().is_some());
    assert_eq!(s.delivery_counts(&nid("n2")).await.unwrap().pending, 1);
}

async fn read_receipts_mark_rows_up_to_their_message_even_when_they_come_first(s: Arc<dyn Store>) {
    s.create_notification(&notification("n1", None, "b", None), 0)
        .await
        .unwrap();
    s.insert_deliveries(
        &nid("n1"),
        1,
        &(1..=3).map(recipient).collect::<Vec<_>>(),
        0,
    )
    .await
    .unwrap();
    s.finish_resolution(&nid("n1")).await.unwrap();
    let claimed = s.claim_deliveries(1, 60_000, 3).await.unwrap();
    let conv = |seq: i64| ConversationId::parse(format!("a:chat-{seq}")).unwrap();
    // Ada read her chat before her row recorded its message id.
    assert_eq!(s.apply_read(&conv(1), "1700000000100", 5).await.unwrap(), 0);
    let ids = ["1700000000100", "99", "not-digits"];
    let results: Vec<DeliveryResult> = claimed
        .iter()
        .map(|d| DeliveryResult {
            activity_id: Some(ids[(d.seq - 1) as usize].to_owned()),
            conversation_id: Some(conv(d.seq)),
            ..done(d, Outcome::Delivered, 200)
        })
        .collect();
    s.record_deliveries(&results, 6).await.unwrap();
    // Ids compare as numbers: 99 is before 100 (as text it would not be).
    assert_eq!(s.apply_read(&conv(2), "100", 7).await.unwrap(), 1);
    assert_eq!(s.apply_read(&conv(2), "100", 8).await.unwrap(), 0, "once");
    assert_eq!(
        s.apply_read(&conv(3), "999", 7).await.unwrap(),
        0,
        "an id that is no number is never read"
    );
    assert_eq!(s.apply_read(&conv(3), "12x", 7).await.unwrap(), 0);
    // Ada's early receipt is applied again, as read when it came.
    let r = s.reapply_reads(0, 10, 1000).await.unwrap();
    assert_eq!((r.marks, r.rows, r.last_at), (3, 1, Some(7)));
    assert_eq!(
        s.reapply_reads(7, 10, 1000).await.unwrap(),
        Reapplied::default()
    );
    let rows = s.list_deliveries(&nid("n1"), 0, 10).await.unwrap();
    let read: Vec<Option<u64>> = rows.iter().map(|d| d.read_at).collect();
    assert_eq!(read, [Some(5), Some(7), None]);
    let c = s.delivery_counts(&nid("n1")).await.unwrap();
    assert_eq!((c.delivered, c.seen), (3, 2));
    assert_eq!(c, recount(&s, &nid("n1")).await);

    // Reactions are counted per message, never below zero.
    let m = "1700000000100";
    s.react(&conv(1), m, "like", 1, 10).await.unwrap();
    s.react(&conv(1), m, "heart", 1, 10).await.unwrap();
    s.react(&conv(1), m, "like", -1, 10).await.unwrap();
    s.react(&conv(1), m, "like", -1, 10).await.unwrap();
    s.react(&conv(2), "99", "sad", -1, 10).await.unwrap();
    let on = s
        .reactions_on(&[
            ("a:chat-1".to_owned(), m.to_owned()),
            ("a:chat-2".to_owned(), "99".to_owned()),
        ])
        .await
        .unwrap();
    let got: Vec<(&str, u64)> = on.iter().map(|r| (r.kind.as_str(), r.n)).collect();
    assert_eq!(got, [("heart", 1)]);
    s.react(&conv(1), m, "like", 1, 10).await.unwrap();
    let on = s
        .reactions_on(&[("a:chat-1".to_owned(), m.to_owned())])
        .await
        .unwrap();
    assert_eq!(on.len(), 2, "like is back at 1 (it never went below 0)");
}

async fn an_import_saves_each_person_once_and_the_later_entry_wins(s: Arc<dyn Store>) {
    // More people than one statement takes, one of them twice.
    let mut refs: Vec<Reference> = (1..=1_203).map(reference).collect();
    let mut renamed = reference(7);
    renamed.user_name = Some("Seven, renamed".into());
    refs.push(renamed);
    assert_eq!(s.upsert_references(&refs, false, 5).await.unwrap(), 1_203);
    assert_eq!(s.count_references(None).await.unwrap(), 1_203);
    let seven = s
        .get_reference(&tenant(), &aad("aad-7"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seven.reference.user_name.as_deref(), Some("Seven, renamed"));
    // A second import of the same people updates them and keeps what it lacks.
    let mut again = reference(8);
    again.upn = None;
    s.upsert_references(&[again], false, 6).await.unwrap();
    let eight = s
        .get_reference(&tenant(), &aad("aad-8"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(eight.reference.upn, reference(8).upn);
    assert_eq!(s.count_references(None).await.unwrap(), 1_203);
}

async fn where_resolution_got_to_is_kept_for_the_next_resolver(s: Arc<dyn Store>) {
    s.create_notification(&notification("n1", None, "b", None), 0)
        .await
        .unwrap();
    let first = s.claim_resolution(100, 1_000).await.unwrap().unwrap();
    assert_eq!(first.resolve_cursor, None);
    s.renew_resolution(&nid("n1"), 1_100, Some(r#"{"part":"x"}"#))
        .await
        .unwrap();
    // Renewing without a cursor keeps it.
    s.renew_resolution(&nid("n1"), 1_200, None).await.unwrap();
    let next = s.claim_resolution(1_300, 1_000).await.unwrap().unwrap();
    assert_eq!(next.resolve_cursor.as_deref(), Some(r#"{"part":"x"}"#));
}

async fn references_are_found_by_upn_user_id_and_in_bulk(s: Arc<dyn Store>) {
    for n in 1..=3 {
        s.upsert_reference(&reference(n), true, 0).await.unwrap();
    }
    assert_eq!(
        s.reference_by_upn(&tenant(), &Upn::parse("USER2@x.example").unwrap())
            .await
            .unwrap()
            .unwrap()
            .reference
            .aad_object_id,
        "aad-2"
    );
    assert_eq!(
        s.reference_by_user_id(&tenant(), &TeamsUserId::parse("29:user-3").unwrap())
            .await
            .unwrap()
            .unwrap()
            .reference
            .aad_object_id,
        "aad-3"
    );
    let found = s
        .references_for(&tenant(), &[aad("aad-1"), aad("aad-3"), aad("aad-9")])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    s.suppress_welcome(&tenant(), &aad("aad-1")).await.unwrap();
    s.upsert_reference(&reference(1), true, 1).await.unwrap();
    assert_eq!(
        s.get_reference(&tenant(), &aad("aad-1"))
            .await
            .unwrap()
            .unwrap()
            .welcome,
        WelcomeStatus::Skipped
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
    assert_eq!(s.migrate().await.unwrap(), (1..=16).collect::<Vec<i64>>());
    (s, path)
}

async fn postgres() -> Option<(Arc<PgStore>, String)> {
    let Ok(url) = std::env::var("HERALD_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED on PostgreSQL: HERALD_TEST_POSTGRES_URL is not set");
        return None;
    };
    let schema = unique("herald_test");
    let s = Arc::new(PgStore::connect_in_schema(&url, &schema).await.unwrap());
    assert_eq!(s.migrate().await.unwrap(), (1..=16).collect::<Vec<i64>>());
    Some((s, schema))
}

async fn answers_count_once_replays_change_nothing_and_waits_expire(s: Arc<dyn Store>) {
    s.create_notification(&notification("n1", None, "b", None), 0)
        .await
        .unwrap();
    let rows: Vec<NewDelivery> = (1..=3).map(recipient).collect();
    s.insert_deliveries(&nid("n1"), 1, &rows, 0).await.unwrap();
    s.finish_resolution(&nid("n1")).await.unwrap();
    let claimed = s.claim_deliveries(10, 60_000, 10).await.unwrap();
    let results: Vec<DeliveryResult> = claimed
        .iter()
        .map(|d| DeliveryResult {
            wait: Some(NewResponse {
                recipient: d.recipient.clone(),
                aad_object_id: d.aad_object_id.clone(),
                deadline: 1_000,
                callback_url: (d.seq == 1).then(|| "http://127.0.0.1:9/cb".to_owned()),
            }),
            ..done(d, Outcome::Delivered, 200)
        })
        .collect();
    s.record_deliveries(&results, 20).await.unwrap();
    // Recording again (a retried batch) opens nothing twice.
    s.record_deliveries(&results, 21).await.unwrap();
    let r = s.responses_for_activity("act-1").await.unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].state, ResponseState::Waiting);
    assert_eq!(r[0].conversation_id, "a:conv");
    let answer = |id: &str, title: &str| Answer {
        inbound_id: id.into(),
        action_title: Some(title.into()),
        action_id: None,
        verb: None,
        inputs: r#"{"comment":"ok"}"#.into(),
        at: 50,
        wants_update: true,
    };
    assert_eq!(
        s.record_answer(&nid("n1"), 1, &answer("in-1", "Approve"))
            .await
            .unwrap(),
        AnswerOutcome::First
    );
    assert_eq!(
        s.record_answer(&nid("n1"), 1, &answer("in-1", "Approve"))
            .await
            .unwrap(),
        AnswerOutcome::Replay
    );
    assert_eq!(
        s.record_answer(&nid("n1"), 1, &answer("in-2", "Reject"))
            .await
            .unwrap(),
        AnswerOutcome::Later
    );
    assert_eq!(
        s.record_answer(&nid("n1"), 2, &answer("in-3", "Reject"))
            .await
            .unwrap(),
        AnswerOutcome::First
    );
    let first = s.get_response(&nid("n1"), 1).await.unwrap().unwrap();
    assert_eq!(first.action_title.as_deref(), Some("Approve"));
    assert_eq!(first.answers, 2);
    assert_eq!(first.update_state, UpdateState::Pending);
    assert_eq!(first.responded_at, Some(50));
    // The third waits until its deadline, then has no response; a late answer is history only.
    assert_eq!(s.expire_responses(999).await.unwrap(), 0);
    assert_eq!(s.expire_responses(1_000).await.unwrap(), 1);
    assert_eq!(
        s.record_answer(&nid("n1"), 3, &answer("in-4", "Approve"))
            .await
            .unwrap(),
        AnswerOutcome::Late
    );
    let t = s.response_tally(&nid("n1")).await.unwrap();
    assert_eq!((t.waiting, t.answered, t.no_response), (0, 2, 1));
    assert_eq!(
        t.by_action,
        vec![("Approve".to_owned(), 1), ("Reject".to_owned(), 1)]
    );
    let listed = s.list_responses(&nid("n1"), 0, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // Only the first recipient asked for callbacks: one, claimed once until its lease ends.
    let cbs = s.claim_callbacks(2_000, 30_000, 10).await.unwrap();
    assert_eq!(cbs.len(), 1);
    assert_eq!(
        (cbs[0].seq, cbs[0].event, cbs[0].attempts),
        (1, CallbackEvent::Answered, 1)
    );
    assert!(s
        .claim_callbacks(2_001, 30_000, 10)
        .await
        .unwrap()
        .is_empty());
    s.finish_callback(
        cbs[0].id,
        &CallbackResult::Retry {
            next_at: 3_000,
            error: "503".into(),
        },
        2_001,
    )
    .await
    .unwrap();
    let again = s.claim_callbacks(3_000, 30_000, 10).await.unwrap();
    assert_eq!(again[0].attempts, 2);
    s.finish_callback(again[0].id, &CallbackResult::Delivered, 3_001)
        .await
        .unwrap();
    assert_eq!(s.callback_counts().await.unwrap(), (0, 1, 0));
    assert_eq!(s.stale_updates(51, 10).await.unwrap().len(), 2);
    s.set_update_state(&nid("n1"), 1, UpdateState::Done, 60)
        .await
        .unwrap();
    s.set_update_state(&nid("n1"), 2, UpdateState::Failed, 60)
        .await
        .unwrap();
    assert!(s.stale_updates(1_000_000, 10).await.unwrap().is_empty());
}

async fn signed_in_users_are_kept_replaced_and_removed(s: Arc<dyn Store>) {
    let t = UserToken {
        upn: Upn::parse("Ada@x.example").unwrap(),
        tenant_id: tenant(),
        aad_object_id: aad("aad-1"),
        display_name: Some("Ada".into()),
        refresh_token_sealed: "v1.sealed-refresh".into(),
        access_token_sealed: Some("v1.sealed-access".into()),
        access_expires_at: 1_000,
        scopes: None,
        created_at: 10,
        updated_at: 10,
    };
    s.put_user_token(&t).await.unwrap();
    let old = s.get_user_token(&t.upn).await.unwrap().unwrap();
    assert!(
        !old.grants("Chat.ReadWrite"),
        "a sign-in with no scopes kept grants nothing"
    );
    let got = s
        .get_user_token(&Upn::parse("ADA@x.example").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.upn, "ada@x.example", "kept under the lower-case UPN");
    assert_eq!(got.refresh_token_sealed, "v1.sealed-refresh");
    s.put_user_token(&UserToken {
        refresh_token_sealed: "v1.rotated".into(),
        access_expires_at: 5_000,
        scopes: Some("Chat.Create https://graph.microsoft.com/chat.readwrite User.Read".into()),
        updated_at: 20,
        ..t.clone()
    })
    .await
    .unwrap();
    let got = s
        .get_user_token(&Upn::parse("ada@x.example").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            got.refresh_token_sealed.as_str(),
            got.access_expires_at,
            got.created_at
        ),
        ("v1.rotated", 5_000, 10)
    );
    assert!(got.grants("Chat.ReadWrite") && got.grants("chat.create"));
    assert!(!got.grants("ChatMessage.Send"));
    assert_eq!(s.list_user_tokens().await.unwrap().len(), 1);
    assert!(s
        .delete_user_token(&Upn::parse("ada@x.example").unwrap())
        .await
        .unwrap());
    assert!(!s
        .delete_user_token(&Upn::parse("ada@x.example").unwrap())
        .await
        .unwrap());
    assert!(s
        .get_user_token(&Upn::parse("ada@x.example").unwrap())
        .await
        .unwrap()
        .is_none());
}

async fn a_small_send_shares_the_claim_with_a_running_broadcast(s: Arc<dyn Store>) {
    let id = |x: &str| NotificationId::parse(x).unwrap();
    s.create_notification(&notification("broadcast", None, "b", None), 0)
        .await
        .unwrap();
    let rows: Vec<NewDelivery> = (1..=500).map(recipient).collect();
    s.insert_deliveries(&id("broadcast"), 1, &rows, 0)
        .await
        .unwrap();
    s.create_notification(&notification("one", None, "o", None), 1)
        .await
        .unwrap();
    s.insert_deliveries(&id("one"), 1, &[recipient(1)], 1)
        .await
        .unwrap();
    let bulk = NewNotification {
        priority: Priority::Bulk,
        ..notification("later", None, "l", None)
    };
    s.create_notification(&bulk, 2).await.unwrap();
    s.insert_deliveries(&id("later"), 1, &[recipient(2)], 2)
        .await
        .unwrap();
    // The one-person send is older than nothing and smaller than everything: it still gets its
    // row in the first claim, and the broadcast gets the rest; the bulk one waits.
    let claim = s.claim_deliveries(10, 60_000, 64).await.unwrap();
    let of = |n: &str| claim.iter().filter(|d| d.notification_id == n).count();
    assert_eq!(
        (of("one"), of("broadcast"), of("later")),
        (1, 63, 0),
        "normal ones share"
    );
    // A high-priority one goes first, whatever its age.
    let high = NewNotification {
        priority: Priority::High,
        ..notification("urgent", None, "u", None)
    };
    s.create_notification(&high, 3).await.unwrap();
    let rows: Vec<NewDelivery> = (1..=100).map(recipient).collect();
    s.insert_deliveries(&id("urgent"), 1, &rows, 3)
        .await
        .unwrap();
    let claim = s.claim_deliveries(20, 60_000, 64).await.unwrap();
    let of = |n: &str| claim.iter().filter(|d| d.notification_id == n).count();
    assert_eq!((of("urgent"), of("broadcast")), (64, 0));
    let got = s.get_notification(&id("urgent")).await.unwrap().unwrap();
    assert_eq!(got.priority, Priority::High, "read back");
}

async fn send_slots_are_reserved_once_across_nodes(s: Arc<dyn Store>) {
    let tenant = tenant();
    let interval = 20_200u64;
    // 16 nodes reserving 5 slots each at the same instant: 80 slots, none shared, none closer
    // than the interval.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (s, tenant) = (s.clone(), tenant.clone());
        tasks.push(tokio::spawn(async move {
            s.reserve_slots(&tenant, 1_000_000, 5, interval, 4_000)
                .await
                .unwrap()
        }));
    }
    let mut firsts = Vec::new();
    for t in tasks {
        firsts.push(t.await.unwrap());
    }
    firsts.sort_unstable();
    assert_eq!(
        firsts[0], 996_000,
        "the first slot may be the catch-up tolerance early"
    );
    for w in firsts.windows(2) {
        assert_eq!(
            w[1] - w[0],
            5 * interval,
            "batches follow each other: {firsts:?}"
        );
    }
    // Idle for a while: the schedule restarts at now, not in the past.
    let next = s
        .reserve_slots(&tenant, 60_000_000, 5, interval, 4_000)
        .await
        .unwrap();
    assert_eq!(next, 59_996_000);
    // A 429 holds every node.
    s.hold_budget(&tenant, 90_000_000).await.unwrap();
    let after = s
        .reserve_slots(&tenant, 61_000_000, 5, interval, 4_000)
        .await
        .unwrap();
    assert_eq!(after, 90_000_000);
    // Another tenant has its own budget.
    let other = TenantId::parse("tenant-2").unwrap();
    assert_eq!(
        s.reserve_slots(&other, 61_000_000, 1, interval, 0)
            .await
            .unwrap(),
        61_000_000
    );
}

async fn nodes_beat_and_leave(s: Arc<dyn Store>) {
    let beat = |id: &str, at: u64| NodeBeat {
        node_id: id.into(),
        started_at: 1,
        heartbeat_at: at,
        budget: "{\"t\":16.5}".into(),
    };
    s.heartbeat(&beat("a", 1_000)).await.unwrap();
    s.heartbeat(&beat("b", 2_000)).await.unwrap();
    s.heartbeat(&beat("a", 3_000)).await.unwrap();
    let nodes = s.nodes().await.unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(
        (nodes[0].node_id.as_str(), nodes[0].heartbeat_at),
        ("a", 3_000)
    );
    s.leave("b").await.unwrap();
    assert_eq!(s.nodes().await.unwrap().len(), 1);
    // A node silent for an hour is forgotten by the next beat.
    s.heartbeat(&beat("c", 3_000 + 3_600_001)).await.unwrap();
    let ids: Vec<String> = s
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.node_id)
        .collect();
    assert_eq!(ids, ["c"]);
}

async fn each_person_is_claimed_by_one_node(s: Arc<dyn Store>) {
    let id = |x: &str| NotificationId::parse(x).unwrap();
    // A notification whose rows must stay together (one group chat) goes to one node whole.
    let together = NewNotification {
        keep_together: true,
        remind_after_ms: None,
        events: 0,
        events_url: None,
        ..notification("chat", None, "c", None)
    };
    s.create_notification(&together, 0).await.unwrap();
    let rows: Vec<NewDelivery> = (1..=30).map(recipient).collect();
    s.insert_deliveries(&id("chat"), 1, &rows, 0).await.unwrap();
    let mut holders = 0;
    for index in 0..3 {
        let got = s
            .claim_partition(5, 60_000, 1000, Partition { index, count: 3 })
            .await
            .unwrap();
        if !got.is_empty() {
            holders += 1;
            assert_eq!(got.len(), 30, "all of it or none");
        }
    }
    assert_eq!(holders, 1, "one node takes the whole group chat");
    for n in ["first", "second"] {
        s.create_notification(&notification(n, None, n, None), 0)
            .await
            .unwrap();
        let rows: Vec<NewDelivery> = (1..=60).map(recipient).collect();
        s.insert_deliveries(&id(n), 1, &rows, 0).await.unwrap();
    }
    let mut owner = std::collections::HashMap::new();
    let mut total = 0;
    for index in 0..3 {
        let part = Partition { index, count: 3 };
        let got = s.claim_partition(10, 60_000, 1000, part).await.unwrap();
        total += got.len();
        for d in got {
            let o = *owner.entry(d.recipient_key.clone()).or_insert(index);
            if s.backend() == "postgres" {
                assert_eq!(o, index, "{} claimed by two nodes", d.recipient_key);
            }
        }
    }
    assert_eq!(total, 120, "every row claimed once");
    if s.backend() == "postgres" {
        let per: Vec<usize> = (0..3)
            .map(|i| owner.values().filter(|&&o| o == i).count())
            .collect();
        assert!(
            per.iter().all(|&n| n >= 8),
            "spread over the nodes: {per:?}"
        );
    }
}

/// Reminders: only delivered, unread rows at least `after` old are taken, each by one caller;
/// the walk stops at a row still being sent and goes on from there later.
async fn each_unread_row_is_taken_for_a_reminder_once_and_in_its_time(s: Arc<dyn Store>) {
    for n in 1..=6 {
        s.upsert_reference(&reference(n), false, 0).await.unwrap();
    }
    let id = nid("remind");
    s.create_notification(
        &NewNotification {
            remind_after_ms: Some(1_000),
            ..notification("remind", None, "r", None)
        },
        0,
    )
    .await
    .unwrap();
    s.insert_deliveries(&id, 1, &(1..=6).map(recipient).collect::<Vec<_>>(), 0)
        .await
        .unwrap();
    s.finish_resolution(&id).await.unwrap();
    // Rows 1-4 are delivered at 10, row 5 is still being sent, row 6 waits.
    let claimed = s.claim_deliveries(10, 60_000, 5).await.unwrap();
    let (sent, held): (Vec<_>, Vec<_>) = claimed.iter().partition(|d| d.seq <= 4);
    s.record_deliveries(
        &sent
            .iter()
            .map(|d| done(d, Outcome::Delivered, 200))
            .collect::<Vec<_>>(),
        10,
    )
    .await
    .unwrap();
    let reminding = s.reminding(10).await.unwrap();
    assert_eq!(reminding.len(), 1);
    assert!(!reminding[0].finished);
    assert_eq!(reminding[0].after_ms, 1_000);
    // Too early: nothing, and the walk stays put.
    let t = s.take_reminders(&reminding[0], 500, 100).await.unwrap();
    assert!(t.due.is_empty() && !t.at_end);
    assert_eq!(t.from_seq, 0);
    // In time: rows 1-4, stopping at row 5 (read rows are left out: the server's tests read them).
    let now = 1_010;
    let t = s.take_reminders(&reminding[0], now, 100).await.unwrap();
    assert_eq!(
        t.due.iter().map(|d| d.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(t
        .due
        .iter()
        .all(|d| d.service_url.as_deref() == Some("https://smba.trafficmanager.net/teams/")));
    assert_eq!((t.from_seq, t.at_end), (5, false));
    // A second caller that read the same start takes none of them.
    let again = s.take_reminders(&reminding[0], now, 100).await.unwrap();
    assert!(again.due.is_empty(), "{again:?}");
    // Row 3's reminder failed: the row shows none, and it is not tried again.
    s.reminder_failed(&id, 3).await.unwrap();
    let rows = s.list_deliveries(&id, 0, 100).await.unwrap();
    let reminded: Vec<i64> = rows
        .iter()
        .filter(|d| d.reminded_at == Some(now))
        .map(|d| d.seq)
        .collect();
    assert_eq!(reminded, vec![1, 2, 4]);
    // Rows 5 and 6 end (one delivered, one failed); the notification completes.
    let held: Vec<Delivery> = held.into_iter().cloned().collect();
    s.record_deliveries(
        &held
            .iter()
            .map(|d| done(d, Outcome::Delivered, 200))
            .collect::<Vec<_>>(),
        2_000,
    )
    .await
    .unwrap();
    let last = s.claim_deliveries(2_000, 60_000, 5).await.unwrap();
    s.record_deliveries(
        &last
            .iter()
            .map(|d| done(d, Outcome::Failed, 403))
            .collect::<Vec<_>>(),
        2_000,
    )
    .await
    .unwrap();
    assert!(s.complete_if_done(&id, 2_000).await.unwrap());
    let reminding = s.reminding(10).await.unwrap();
    assert!(reminding[0].finished, "{reminding:?}");
    assert_eq!(reminding[0].from_seq, 5);
    let t = s.take_reminders(&reminding[0], 3_000, 100).await.unwrap();
    assert_eq!(t.due.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![5]);
    assert!(t.at_end);
    s.reminders_done(&id).await.unwrap();
    assert!(s.reminding(10).await.unwrap().is_empty());
}

/// Recall and edit: one edit at a time, nothing after a recall; a leased amendment is another
/// node's only once its lease is over, and a repeated step does not count twice.
async fn amendments_conflict_lease_and_count_each_row_once(s: Arc<dyn Store>) {
    with_rows_delivered(&s, "amend", 5, 5).await;
    let id = nid("amend");
    assert!(s.complete_if_done(&id, 50).await.unwrap());
    let edit = s
        .amend(
            &id,
            AmendKind::Edit,
            Some(r#"{"card":{},"data":{"User1@x.example":{"desk":"4F"}}}"#),
            Some("ops"),
            100,
        )
        .await
        .unwrap();
    let Amended::Started(edit) = edit else {
        panic!("{edit:?}")
    };
    assert!(edit.running && edit.notification_finished);
    assert!(matches!(
        s.amend(&id, AmendKind::Edit, Some("{}"), None, 101)
            .await
            .unwrap(),
        Amended::Conflict(_)
    ));
    // An erasure finds the person in an edit's data, and rewrites it.
    let found = s
        .edits_mentioning(&["user1@x.example".to_owned()])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    s.replace_edit_message(&id, found[0].1, r#"{"card":{},"data":{}}"#)
        .await
        .unwrap();
    assert!(s
        .edits_mentioning(&["user1@x.example".to_owned()])
        .await
        .unwrap()
        .is_empty());
    // Leased by one node; another gets it only after the lease.
    let claimed = s.claim_amendment(200, 1_000).await.unwrap().unwrap();
    assert_eq!(claimed.version, 1);
    assert!(s.claim_amendment(500, 1_000).await.unwrap().is_none());
    let walk = s.amendment_rows(&claimed, 3).await.unwrap();
    assert_eq!(
        walk.rows.iter().map(|d| d.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(!walk.at_end && !walk.blocked);
    assert!(s
        .save_step(&claimed, &[1, 2, 3], 0, walk.next_seq, 300, 1_300)
        .await
        .unwrap());
    // The node dies; the step is repeated by the next one: the rows count once.
    let again = s.claim_amendment(1_400, 1_000).await.unwrap().unwrap();
    assert_eq!(again.next_seq, 4);
    assert!(s
        .save_step(&again, &[2, 3], 0, 4, 1_450, 1_450)
        .await
        .unwrap());
    let edit = s.amendments(&id).await.unwrap().pop().unwrap();
    assert_eq!((edit.done, edit.failed), (3, 0));
    // A recall stops the edit where it is; nothing can follow a recall.
    let Amended::Started(recall) = s
        .amend(&id, AmendKind::Recall, None, Some("ops"), 2_000)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(recall.version, 2);
    let all = s.amendments(&id).await.unwrap();
    assert!(!all[0].running && all[0].finished_at == Some(2_000));
    assert!(
        !s.save_step(&all[0], &[4], 0, 5, 2_001, 2_001)
            .await
            .unwrap(),
        "a stopped edit saves nothing"
    );
    for kind in [AmendKind::Edit, AmendKind::Recall] {
        assert!(matches!(
            s.amend(&id, kind, Some("{}"), None, 2_100).await.unwrap(),
            Amended::Conflict(_)
        ));
    }
    let recall = s.claim_amendment(2_200, 1_000).await.unwrap().unwrap();
    let walk = s.amendment_rows(&recall, 100).await.unwrap();
    assert_eq!(walk.rows.len(), 5);
    assert!(walk.at_end);
    assert!(s
        .save_step(&recall, &[1, 2, 3, 4, 5], 0, walk.next_seq, 2_300, 2_300)
        .await
        .unwrap());
    assert!(s
        .save_step(&recall, &[5], 0, walk.next_seq, 2_301, 2_301)
        .await
        .unwrap());
    s.finish_amendment(&recall, 2_400).await.unwrap();
    assert_eq!(s.delivery_counts(&id).await.unwrap().recalled, 5);
    let rows = s.list_deliveries(&id, 0, 10).await.unwrap();
    assert!(rows
        .iter()
        .all(|d| d.recalled_at == Some(2_300) && d.recalled_by.as_deref() == Some("ops")));
    assert_eq!(rows.iter().filter(|d| d.edited_at == Some(300)).count(), 3);
    assert!(
        s.claim_amendment(10_000, 1_000).await.unwrap().is_none(),
        "done"
    );
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
    amendments_conflict_lease_and_count_each_row_once,
    each_unread_row_is_taken_for_a_reminder_once_and_in_its_time,
    migrate_is_idempotent,
    read_receipts_mark_rows_up_to_their_message_even_when_they_come_first,
    notifications_past_retention_are_purged_a_step_at_a_time,
    an_erased_person_leaves_rows_that_still_add_up_and_say_nothing_of_them,
    signed_in_users_are_kept_replaced_and_removed,
    answers_count_once_replays_change_nothing_and_waits_expire,
    references_round_trip_and_keep_what_an_update_lacks,
    unreachable_is_kept_and_an_install_revives_it,
    a_welcome_is_claimed_once_however_often_the_install_repeats,
    an_expired_welcome_lease_is_taken_again_and_retries_requeue,
    welcomes_wait_for_a_reachable_conversation,
    references_page_by_cursor_and_filter_by_state,
    activity_and_teams_are_recorded,
    idempotency_keys_return_the_same_notification_or_a_conflict,
    resolution_is_leased_deduplicated_and_resumable,
    deliveries_are_claimed_once_recorded_and_completed,
    cancel_stops_what_has_not_been_sent,
    references_are_found_by_upn_user_id_and_in_bulk,
    an_import_saves_each_person_once_and_the_later_entry_wins,
    where_resolution_got_to_is_kept_for_the_next_resolver,
    a_small_send_shares_the_claim_with_a_running_broadcast,
    send_slots_are_reserved_once_across_nodes,
    nodes_beat_and_leave,
    each_person_is_claimed_by_one_node,
);

/// PostgreSQL claims start where the last one ended (`claim_floor`): rows another node puts back
/// behind that point are still claimed, once a claim runs short; rows this node puts back are
/// claimed first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_put_back_behind_where_claims_start_are_still_claimed() {
    let Some((s1, schema)) = postgres().await else {
        return;
    };
    let url = std::env::var("HERALD_TEST_POSTGRES_URL").unwrap();
    let s2 = PgStore::connect_in_schema(&url, &schema).await.unwrap();
    s1.create_notification(&notification("f", None, "b", None), 0)
        .await
        .unwrap();
    let rows: Vec<NewDelivery> = (1..=50).map(recipient).collect();
    s1.insert_deliveries(&nid("f"), 1, &rows, 0).await.unwrap();
    s1.finish_resolution(&nid("f")).await.unwrap();
    let seqs = |ds: Vec<Delivery>| ds.iter().map(|d| d.seq).collect::<Vec<i64>>();
    assert_eq!(
        seqs(s1.claim_deliveries(10, 1_000, 10).await.unwrap()),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(s1.claim_deliveries(10, 1_000, 10).await.unwrap()),
        (11..=20).collect::<Vec<_>>()
    );
    // Another node finds those leases expired and puts the 20 rows back.
    assert_eq!(s2.reclaim_expired(5_000).await.unwrap(), 20);
    // This node goes on from where it was, and sees the rest when a claim runs short.
    assert_eq!(
        seqs(s1.claim_deliveries(5_001, 60_000, 10).await.unwrap()),
        (21..=30).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(s1.claim_deliveries(5_001, 60_000, 30).await.unwrap()),
        (31..=50).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(s1.claim_deliveries(5_001, 60_000, 30).await.unwrap()),
        (1..=20).collect::<Vec<_>>()
    );
    assert!(s1
        .claim_deliveries(5_001, 60_000, 30)
        .await
        .unwrap()
        .is_empty());
    // Rows this node puts back are claimed first.
    assert_eq!(s1.reclaim_expired(100_000).await.unwrap(), 50);
    assert_eq!(
        seqs(s1.claim_deliveries(100_001, 60_000, 10).await.unwrap()),
        (1..=10).collect::<Vec<_>>()
    );
    s1.drop_schema(&schema).await.unwrap();
}

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
        .get_reference(&tenant(), &aad("aad-1"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(s.count_references(None).await.unwrap(), 1);
}
