//! Reachability: a conversation to write to for a recipient who has none stored. A user known
//! through a team gets a CreateConversation; a user without the app gets it installed through
//! Graph, then a CreateConversation. Either way the new reference is kept for next time.
//! (Which of these a delivery tries, and when, is the `ifNotInstalled` policy in `send`.)

use crate::outcome::{failure, RowOutcome};
use crate::Engine;
use herald_connector::{ConnectorError, Install};
use herald_core::ids::{AadObjectId, ConversationId, TeamsUserId, TenantId};
use herald_core::reason::Reason;
use herald_store::{Delivery, Outcome, Reference, Source, StoredReference};

/// What a failed call means for reaching the recipient: Teams says the bot is gone or blocked
/// (`Ok`: their reference is marked unreachable, and the `ifNotInstalled` policy answers), or the
/// row fails with the error's status and reason (`Err`).
pub async fn unreachable(
    engine: &Engine,
    tenant: &TenantId,
    aad: &AadObjectId,
    e: &ConnectorError,
) -> Result<Reason, RowOutcome> {
    match e.unreachable_reason() {
        Some(reason) => {
            let _ = engine
                .store
                .mark_unreachable(tenant, aad, reason.as_str(), engine.clock.now_ms())
                .await;
            Ok(reason)
        }
        None => {
            let (code, reason) = failure(e);
            Err(RowOutcome::of(Outcome::Failed, code, Some(reason)))
        }
    }
}

/// CreateConversation for a user known through a team (no 1:1 yet); the id is kept.
pub async fn open_conversation(
    engine: &Engine,
    r: &Reference,
    attempts: &mut u32,
) -> Result<ConversationId, ConnectorError> {
    let sent = engine
        .connector
        .create_conversation(&r.service_url, &r.bot_id, &r.user_id, &r.tenant_id)
        .await;
    *attempts += sent.attempts;
    let conv = sent.result?;
    let updated = Reference {
        conversation_id: Some(conv.clone()),
        ..r.clone()
    };
    let _ = engine
        .store
        .upsert_reference(&updated, false, engine.clock.now_ms())
        .await;
    Ok(conv)
}

/// Installs the app for the user through Graph (409 = it already was), opens the 1:1
/// conversation, and keeps the reference. The install's own welcome is suppressed: this
/// notification is the first thing the user sees.
pub async fn install(
    engine: &Engine,
    aad: &AadObjectId,
    d: &Delivery,
    attempts: &mut u32,
) -> Result<StoredReference, RowOutcome> {
    let cfg = &engine.cfg;
    let now = engine.clock.now_ms();
    let Some(app) = cfg.teams_app_id.as_deref() else {
        return Err(RowOutcome::of(
            Outcome::Failed,
            Some(100),
            Some(Reason::NotInstalled),
        ));
    };
    let store_err = |e: herald_store::StoreError| {
        tracing::error!(error = %e, "store failed during an install");
        RowOutcome::of(Outcome::Failed, None, Some(Reason::ServiceError))
    };
    let bot_id = format!("28:{}", cfg.app_id);
    let mut reference = Reference {
        tenant_id: engine.tenant.clone(),
        aad_object_id: aad.clone(),
        // The Teams id is not known until Teams says it; the AAD id works for CreateConversation.
        user_id: TeamsUserId::from_aad(aad),
        user_name: d.display_name.clone(),
        upn: d.upn.clone(),
        bot_id: bot_id.clone(),
        bot_name: None,
        conversation_id: None,
        conversation_type: "personal".into(),
        channel_id: "msteams".into(),
        service_url: cfg.service_url.clone(),
        locale: None,
        source: Source::Created,
    };
    if let Ok(Some(existing)) = engine.store.get_reference(&engine.tenant, aad).await {
        reference.user_id = existing.reference.user_id;
        reference.bot_name = existing.reference.bot_name;
    }
    // Keep the row (and its "no welcome") before Teams tells the bot about the install.
    engine
        .store
        .upsert_reference(&reference, false, now)
        .await
        .map_err(store_err)?;
    engine
        .store
        .suppress_welcome(&engine.tenant, aad)
        .await
        .map_err(store_err)?;
    match engine.graph.install_app(aad, app).await {
        Ok(Install::Installed | Install::AlreadyInstalled) => {}
        Err(e) => {
            let (code, _) = failure(&e);
            return Err(RowOutcome::of(
                Outcome::Failed,
                code,
                Some(Reason::ServiceError),
            ));
        }
    }
    let sent = engine
        .connector
        .create_conversation(
            &cfg.service_url,
            &bot_id,
            &reference.user_id,
            &engine.tenant,
        )
        .await;
    *attempts += sent.attempts;
    let conv = match sent.result {
        Ok(c) => c,
        Err(e) => {
            let (code, reason) = failure(&e);
            return Err(RowOutcome::of(Outcome::Failed, code, Some(reason)));
        }
    };
    reference.conversation_id = Some(conv);
    engine
        .store
        .upsert_reference(&reference, false, engine.clock.now_ms())
        .await
        .map_err(store_err)?;
    engine
        .store
        .get_reference(&engine.tenant, aad)
        .await
        .map_err(store_err)?
        .ok_or_else(|| RowOutcome::of(Outcome::Failed, None, Some(Reason::ServiceError)))
}
