//! What each authenticated activity means for the installation store: personal installs and
//! removals, team installs, members joining, teams deleted and restored, and users writing.

use crate::{BotReply, Engine, EngineError};
use herald_core::category::{Command, OptOut};
use herald_core::ids::{AadObjectId, ConversationId, TeamsUserId, TenantId, Upn};
use herald_store::{ChatReference, ChatState, Reference, Source, TeamReference, TeamState};
use herald_wire::activity::{kinds, Activity, ChannelAccount, EVENT_READ_RECEIPT};
use herald_wire::card;
use serde_json::{json, Value};
use std::sync::Arc;

/// The activity's tenant, if it names one that is an id (an activity is hostile input: an id
/// Teams would never give is no id, and nothing is stored for it).
fn tenant_of(a: &Activity) -> Option<TenantId> {
    a.conversation
        .as_ref()
        .and_then(|c| c.tenant_id.as_deref())
        .or_else(|| {
            a.channel_data
                .as_ref()
                .and_then(|cd| cd["tenant"]["id"].as_str())
        })
        .and_then(|t| TenantId::parse(t).ok())
}

fn bot_of(a: &Activity) -> Option<&ChannelAccount> {
    a.recipient.as_ref()
}

fn is_bot(a: &Activity, m: &ChannelAccount) -> bool {
    bot_of(a).is_some_and(|b| b.id == m.id)
}

/// Where an activity happened. Only a `Personal` conversation is a user's 1:1 with the bot: a
/// group chat or a channel says nothing about anyone's 1:1 (docs/teams.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    Personal,
    GroupChat,
    Channel,
}

fn where_of(a: &Activity) -> Where {
    let conv = a.conversation.as_ref();
    let in_team = a
        .channel_data
        .as_ref()
        .is_some_and(|cd| cd["team"]["id"].is_string());
    match conv.and_then(|c| c.conversation_type.as_deref()) {
        Some("channel") => Where::Channel,
        Some("groupChat") => Where::GroupChat,
        Some("personal") if !in_team => Where::Personal,
        // Teams always says; an activity that does not is judged by what it carries.
        _ if in_team => Where::Channel,
        _ if conv.and_then(|c| c.is_group) == Some(true) => Where::GroupChat,
        _ => Where::Personal,
    }
}

fn is_channel(a: &Activity) -> bool {
    where_of(a) == Where::Channel
}

fn event_type(a: &Activity) -> Option<&str> {
    a.channel_data
        .as_ref()
        .and_then(|cd| cd["eventType"].as_str())
}

/// A user's reference as this activity shows it. `personal`: the activity's conversation is the
/// user's 1:1 with the bot.
fn user_reference(
    a: &Activity,
    user: &ChannelAccount,
    personal: bool,
    source: Source,
) -> Option<Reference> {
    // Ids that are not ids (empty, longer than any Teams gives, control characters): nothing is
    // stored for them.
    let aad = AadObjectId::parse(user.aad_object_id.as_deref()?).ok()?;
    let user_id = TeamsUserId::parse(user.id.as_str()).ok()?;
    let conversation = match &a.conversation {
        Some(c) => Some(ConversationId::parse(c.id.as_str()).ok()?),
        None => None,
    };
    let bot = bot_of(a)?;
    Some(Reference {
        tenant_id: tenant_of(a)?,
        aad_object_id: aad,
        user_id,
        user_name: user.name.clone(),
        // A UPN Teams sends that is not one is left out, not a reason to drop the user.
        upn: user
            .user_principal_name
            .as_deref()
            .and_then(|u| Upn::parse(u).ok()),
        bot_id: bot.id.clone(),
        bot_name: bot.name.clone(),
        conversation_id: if personal { conversation } else { None },
        conversation_type: "personal".into(),
        channel_id: a.channel_id.clone().unwrap_or_else(|| "msteams".into()),
        service_url: a.service_url.clone()?,
        locale: a.locale.clone(),
        source,
    })
}

/// In a personal conversation the user is the member who is not the bot, else the sender.
fn personal_user(a: &Activity) -> Option<ChannelAccount> {
    a.members_added
        .iter()
        .flatten()
        .find(|m| !is_bot(a, m) && m.aad_object_id.is_some())
        .cloned()
        .or_else(|| a.from.clone())
}

fn team_reference(a: &Activity) -> Option<TeamReference> {
    let cd = a.channel_data.as_ref()?;
    let team_id = ConversationId::parse(cd["team"]["id"].as_str()?).ok()?;
    Some(TeamReference {
        tenant_id: tenant_of(a)?,
        general_channel_id: team_id.clone(),
        team_id,
        name: cd["team"]["name"].as_str().map(str::to_owned),
        aad_group_id: cd["team"]["aadGroupId"]
            .as_str()
            .and_then(|g| AadObjectId::parse(g).ok()),
        bot_id: bot_of(a)?.id.clone(),
        channel_id: a.channel_id.clone().unwrap_or_else(|| "msteams".into()),
        service_url: a.service_url.clone()?,
    })
}

/// Acts on one authenticated activity; the reply is what Teams gets back.
pub async fn handle(engine: &Arc<Engine>, a: Activity) -> Result<BotReply, EngineError> {
    let now = engine.clock.now_ms();
    // Only allowed tenants' activities change anything. Another tenant's get 200 (Teams would
    // retry an error) and are otherwise ignored: nothing stored, no welcome, no reply.
    let tenant = tenant_of(&a);
    if !tenant
        .as_deref()
        .is_some_and(|t| engine.cfg.allowed_tenants.allows(t))
    {
        engine.foreign_tenant(tenant.as_deref().unwrap_or("(none)"), &a.kind, now);
        return Ok(BotReply::Accepted);
    }
    if crate::answers::is_answer(&a) {
        return crate::answers::handle(engine, &a).await;
    }
    if where_of(&a) == Where::GroupChat {
        return group_chat(engine, &a, now).await;
    }
    match a.kind.as_str() {
        kinds::INSTALLATION_UPDATE if is_channel(&a) => match a.action.as_deref() {
            Some("add" | "add-upgrade") => install_team(engine, &a, now).await?,
            Some("remove" | "remove-upgrade") => {
                remove_team(engine, &a, TeamState::Removed, now).await?
            }
            _ => {}
        },
        kinds::INSTALLATION_UPDATE => match a.action.as_deref() {
            Some("add" | "add-upgrade") => install_personal(engine, &a, now).await?,
            Some("remove" | "remove-upgrade") => uninstall_personal(engine, &a, now).await?,
            _ => {}
        },
        kinds::CONVERSATION_UPDATE if is_channel(&a) => {
            match event_type(&a) {
                Some("teamDeleted") => remove_team(engine, &a, TeamState::Deleted, now).await?,
                Some("teamRestored") => install_team(engine, &a, now).await?,
                _ => {}
            }
            let bot_added = a.members_added.iter().flatten().any(|m| is_bot(&a, m));
            let bot_removed = a.members_removed.iter().flatten().any(|m| is_bot(&a, m));
            if bot_added {
                install_team(engine, &a, now).await?;
            }
            if bot_removed {
                remove_team(engine, &a, TeamState::Removed, now).await?;
            }
            for m in a.members_added.iter().flatten().filter(|m| !is_bot(&a, m)) {
                if let Some(r) = user_reference(&a, m, false, Source::TeamMember) {
                    engine.store.upsert_reference(&r, false, now).await?;
                }
            }
        }
        kinds::CONVERSATION_UPDATE => {
            if a.members_added.iter().flatten().any(|m| is_bot(&a, m)) {
                install_personal(engine, &a, now).await?;
            }
            if a.members_removed.iter().flatten().any(|m| is_bot(&a, m)) {
                uninstall_personal(engine, &a, now).await?;
            }
        }
        kinds::MESSAGE if !is_channel(&a) => return user_message(engine, &a, now).await,
        kinds::EVENT
            if where_of(&a) == Where::Personal && a.name.as_deref() == Some(EVENT_READ_RECEIPT) =>
        {
            read_receipt(engine, &a, now).await?
        }
        kinds::MESSAGE_REACTION if where_of(&a) == Where::Personal => reaction(engine, &a).await?,
        kinds::INVOKE => {
            // Card actions are answered in the HTTP response; collecting them is a later feature.
            return Ok(BotReply::Invoke(json!({
                "statusCode": 200,
                "type": card::INVOKE_RESPONSE_MESSAGE,
                "value": "Thanks, your response was received.",
            })));
        }
        _ => {}
    }
    Ok(BotReply::Accepted)
}

/// A user read their 1:1 chat up to a message: the rows delivered there up to it are read. A
/// receipt that names no message id (or one that is not digits) marks nothing.
async fn read_receipt(engine: &Arc<Engine>, a: &Activity, now: u64) -> Result<(), EngineError> {
    let Some(conv) = a
        .conversation
        .as_ref()
        .and_then(|c| ConversationId::parse(c.id.as_str()).ok())
    else {
        return Ok(());
    };
    let Some(up_to) = a
        .value
        .as_ref()
        .and_then(|v| v.get("lastReadMessageId"))
        .and_then(Value::as_str)
    else {
        return Ok(());
    };
    let n = engine.store.apply_read(&conv, up_to, now).await?;
    engine.metrics.reads(n);
    Ok(())
}

/// The most reactions one activity may change, and the longest reaction type kept: Teams sends
/// one at a time, with short names (`like`, `heart` …); types are open strings.
const MAX_REACTIONS: usize = 16;
const MAX_REACTION_LEN: usize = 64;

/// A user added or removed a reaction on a message in their 1:1 chat: counted on that message.
async fn reaction(engine: &Arc<Engine>, a: &Activity) -> Result<(), EngineError> {
    let (Some(conv), Some(message)) = (
        a.conversation
            .as_ref()
            .and_then(|c| ConversationId::parse(c.id.as_str()).ok()),
        a.reply_to_id
            .as_deref()
            .filter(|m| !m.is_empty() && m.len() <= herald_core::ids::MAX_ID_LEN),
    ) else {
        return Ok(());
    };
    let kinds_of = |field: &str| -> Vec<String> {
        a.extra
            .get(field)
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .take(MAX_REACTIONS)
                    .filter_map(|r| r.get("type").and_then(Value::as_str))
                    .map(str::trim)
                    .filter(|t| {
                        !t.is_empty()
                            && t.len() <= MAX_REACTION_LEN
                            && !t.chars().any(char::is_control)
                    })
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for (field, delta) in [("reactionsAdded", 1), ("reactionsRemoved", -1)] {
        for kind in kinds_of(field) {
            engine
                .store
                .react(&conv, message, &kind, delta, engine.clock.now_ms())
                .await?;
        }
    }
    Ok(())
}

/// A group chat: the bot joins or leaves it, or someone @mentions it there. The chat is kept as
/// its own reference; no member's 1:1 reference is read or changed.
async fn group_chat(engine: &Arc<Engine>, a: &Activity, now: u64) -> Result<BotReply, EngineError> {
    let Some(chat) = chat_reference(a) else {
        return Ok(BotReply::Accepted);
    };
    let added = match a.kind.as_str() {
        kinds::INSTALLATION_UPDATE => match a.action.as_deref() {
            Some("add" | "add-upgrade") => Some(true),
            Some("remove" | "remove-upgrade") => Some(false),
            _ => None,
        },
        kinds::CONVERSATION_UPDATE => {
            if a.members_removed.iter().flatten().any(|m| is_bot(a, m)) {
                Some(false)
            } else if a.members_added.iter().flatten().any(|m| is_bot(a, m)) {
                Some(true)
            } else {
                None
            }
        }
        // Teams delivers a group chat's messages to the bot only when they @mention it: the
        // bot is there, whatever the store says.
        kinds::MESSAGE => Some(true),
        _ => None,
    };
    match added {
        Some(true) => engine.store.upsert_chat(&chat, now).await?,
        Some(false) => {
            engine
                .store
                .set_chat_state(
                    &chat.tenant_id,
                    &chat.conversation_id,
                    ChatState::Removed,
                    now,
                )
                .await?;
        }
        None => {}
    }
    if a.kind == kinds::MESSAGE && a.value.is_none() {
        reply(engine, a, introduction(a, false));
    }
    Ok(BotReply::Accepted)
}

fn chat_reference(a: &Activity) -> Option<ChatReference> {
    let conv = a.conversation.as_ref()?;
    Some(ChatReference {
        tenant_id: tenant_of(a)?,
        conversation_id: ConversationId::parse(conv.id.as_str()).ok()?,
        name: conv.name.clone().filter(|n| !n.is_empty()),
        bot_id: bot_of(a)?.id.clone(),
        channel_id: a.channel_id.clone().unwrap_or_else(|| "msteams".into()),
        service_url: a.service_url.clone()?,
        installed_by: a
            .from
            .as_ref()
            .and_then(|f| f.aad_object_id.as_deref())
            .and_then(|id| AadObjectId::parse(id).ok()),
    })
}

async fn install_personal(engine: &Arc<Engine>, a: &Activity, now: u64) -> Result<(), EngineError> {
    let Some(r) =
        personal_user(a).and_then(|u| user_reference(a, &u, true, Source::PersonalInstall))
    else {
        tracing::warn!(kind = %a.kind, "a personal install without a user's AAD object id or tenant: nothing to store");
        return Ok(());
    };
    let welcome = !engine.cfg.welcome_text.is_empty() || engine.cfg.welcome_card.is_some();
    engine.store.upsert_reference(&r, welcome, now).await?;
    learn_time_zone(engine, a, &r).await?;
    if welcome {
        engine.welcome_due.notify_one();
    }
    Ok(())
}

/// The time zone the person's Teams client reports (`clientInfo.timezone`, else
/// `localTimezone`), kept on their reference for `recipientLocalTime`. A name that is not a time
/// zone is ignored.
async fn learn_time_zone(engine: &Engine, a: &Activity, r: &Reference) -> Result<(), EngineError> {
    let from_entities = a
        .extra
        .get("entities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "clientInfo")
        .find_map(|e| e["timezone"].as_str());
    let reported = from_entities.or_else(|| a.extra.get("localTimezone").and_then(Value::as_str));
    if let Some(zone) = reported
        .map(str::trim)
        .filter(|z| crate::local_time::zone(z).is_ok())
    {
        engine
            .store
            .learn_time_zone(&r.tenant_id, &r.aad_object_id, zone)
            .await?;
    }
    Ok(())
}

async fn uninstall_personal(
    engine: &Arc<Engine>,
    a: &Activity,
    now: u64,
) -> Result<(), EngineError> {
    let (Some(tenant), Some(user)) = (
        tenant_of(a),
        a.from
            .as_ref()
            .and_then(|f| f.aad_object_id.as_deref())
            .and_then(|id| AadObjectId::parse(id).ok()),
    ) else {
        return Ok(());
    };
    engine
        .store
        .mark_unreachable(&tenant, &user, "uninstalled", now)
        .await?;
    Ok(())
}

async fn install_team(engine: &Arc<Engine>, a: &Activity, now: u64) -> Result<(), EngineError> {
    if let Some(t) = team_reference(a) {
        engine.store.upsert_team(&t, now).await?;
    }
    Ok(())
}

async fn remove_team(
    engine: &Arc<Engine>,
    a: &Activity,
    state: TeamState,
    now: u64,
) -> Result<(), EngineError> {
    if let Some(t) = team_reference(a) {
        engine
            .store
            .set_team_state(&t.tenant_id, &t.team_id, state, now)
            .await?;
    }
    Ok(())
}

/// A user wrote to the bot: their chat is now *active*, and they get a short answer that says
/// what the bot is for (not for card submissions, which carry a `value`), or, for `stop …` /
/// `start …`, their opt-out changed and confirmed.
async fn user_message(
    engine: &Arc<Engine>,
    a: &Activity,
    now: u64,
) -> Result<BotReply, EngineError> {
    let Some(user) = a.from.clone() else {
        return Ok(BotReply::Accepted);
    };
    let reference = user_reference(a, &user, true, Source::PersonalInstall);
    if let Some(r) = &reference {
        // The first we hear of someone may be a message: that is a reference worth keeping.
        if !engine
            .store
            .record_activity(&r.tenant_id, &r.aad_object_id, now)
            .await?
        {
            engine.store.upsert_reference(r, false, now).await?;
            engine
                .store
                .record_activity(&r.tenant_id, &r.aad_object_id, now)
                .await?;
        }
    }
    if let Some(r) = &reference {
        learn_time_zone(engine, a, r).await?;
    }
    let is_submit = a.value.is_some() && a.text.as_deref().unwrap_or("").trim().is_empty();
    if is_submit {
        return Ok(BotReply::Accepted);
    }
    let text = match Command::parse(a.text.as_deref().unwrap_or("")) {
        Some(command) => match &reference {
            Some(r) => opt_out(engine, r, command, now).await?,
            None => "I can't tell who you are from this chat, so I can't change what you receive."
                .to_owned(),
        },
        None => introduction(a, true),
    };
    reply(engine, a, text);
    Ok(BotReply::Accepted)
}

/// What the bot answers a message that is not a command: what it is for, and in a 1:1 chat
/// (where opt-outs are made) how to stop notifications.
fn introduction(a: &Activity, personal: bool) -> String {
    let bot = a
        .recipient
        .as_ref()
        .and_then(|b| b.name.as_deref())
        .unwrap_or("this bot");
    let mut text = format!(
        "I'm {bot}: I deliver notifications from your organization here. I can't answer messages, and you don't need to reply."
    );
    if personal {
        text.push_str(" To stop notifications of a kind, write `stop` and its name (`stop payroll`, say) or `stop all`; `start …` undoes it.");
    }
    text
}

/// Applies `stop …` / `start …` and says what changed, in the words the person will read.
async fn opt_out(
    engine: &Engine,
    r: &Reference,
    command: Command,
    now: u64,
) -> Result<String, EngineError> {
    let (tenant, aad) = (&r.tenant_id, &r.aad_object_id);
    let store = &engine.store;
    Ok(match command {
        Command::Unclear(why) => format!(
            "{why}. Write `stop CATEGORY` or `stop all` to stop notifications, `start CATEGORY` or `start all` to get them again."
        ),
        Command::Stop(what) => {
            store.set_opt_out(tenant, aad, &what, true, now).await?;
            match what {
                OptOut::All => "Done: you won't get notifications of any category from now on. Messages your organization sends to everyone without a category still reach you. Write `start all` to get every category again.".to_owned(),
                OptOut::One(c) => format!("Done: you won't get {c} notifications from now on. Write `start {c}` to get them again."),
            }
        }
        Command::Start(what) => {
            let mine = store.opt_outs(tenant, aad).await?;
            match what {
                OptOut::All => {
                    store.set_opt_out(tenant, aad, &OptOut::All, false, now).await?;
                    "Done: you'll get notifications of every category again.".to_owned()
                }
                OptOut::One(c) if mine.contains(&OptOut::All) => format!(
                    "You stopped every category (`stop all`), {c} included: write `start all` to get notifications again."
                ),
                OptOut::One(c) => {
                    store.set_opt_out(tenant, aad, &OptOut::One(c.clone()), false, now).await?;
                    format!("Done: you'll get {c} notifications again.")
                }
            }
        }
    })
}

fn reply(engine: &Arc<Engine>, a: &Activity, text: String) {
    let (Some(service_url), Some(conv)) = (
        a.service_url.clone(),
        a.conversation.as_ref().map(|c| c.id.clone()),
    ) else {
        return;
    };
    let activity: Value = json!({"type": "message", "text": text, "replyToId": a.id});
    let Ok(permit) = engine.replies.clone().try_acquire_owned() else {
        tracing::warn!("too many replies in flight; this message gets none");
        return;
    };
    let connector = engine.connector.clone();
    tokio::spawn(async move {
        let sent = connector.send(&service_url, &conv, &activity).await;
        if let Err(e) = sent.result {
            tracing::warn!(error = %e, attempts = sent.attempts, "the reply to a user's message failed");
        }
        drop(permit);
    });
}
