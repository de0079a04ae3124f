//! The simulated people: they install and remove the bot, block it, write to it, read and react
//! to what it sent, and press the buttons of its cards. Each act makes Teams call the bot with the activities Teams sends,
//! signed with the emulator's key.
//!
//! Over 600 lines because it is one function per act of a simulated person, each building the
//! activities Teams would send.

use crate::bot::BotReply;
use crate::world::{ConvKind, World};
use crate::Shared;
use herald_wire::activity::{kinds, EVENT_READ_RECEIPT, INVOKE_ADAPTIVE_CARD_ACTION};
use herald_wire::card;
use serde_json::{json, Map, Value};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error("the user has not installed the bot")]
    NotInstalled,
    #[error("transcripts are off, so the emulator keeps no cards to press")]
    TranscriptsOff,
    #[error("no activity `{0}` in the user's chat")]
    NoSuchActivity(String),
    #[error("activity `{0}` has no Adaptive Card")]
    NoCard(String),
    #[error("the card has no Action.Submit or Action.Execute titled, named or with verb `{0}`")]
    NoSuchAction(String),
    #[error("the card has no input `{0}`")]
    UnknownInput(String),
    #[error("input `{0}` is required")]
    MissingInput(String),
    #[error("the team does not have the bot installed")]
    TeamWithoutBot,
    #[error("`{0}` is not a member of the group chat")]
    NotAMember(String),
    #[error("the bot has sent nothing in the user's chat to read")]
    NothingToRead,
}

impl PeopleError {
    pub fn pointer(&self) -> Option<String> {
        match self {
            PeopleError::NoSuchActivity(_) => Some("/activityId".into()),
            PeopleError::NoSuchAction(_) => Some("/action".into()),
            PeopleError::NotAMember(_) => Some("/from".into()),
            PeopleError::UnknownInput(i) | PeopleError::MissingInput(i) => {
                Some(format!("/inputs/{i}"))
            }
            _ => None,
        }
    }
}

async fn deliver_all(s: &Arc<Shared>, activities: Vec<Value>) -> Vec<BotReply> {
    let mut out = Vec::with_capacity(activities.len());
    for a in activities {
        out.push(s.bot.deliver(s, &a).await);
    }
    out
}

/// What Teams sends when the bot joins or leaves a user's personal scope: an
/// `installationUpdate` with `action`, then a `conversationUpdate` listing who was added or
/// removed under `members_key`.
fn personal_lifecycle(
    s: &Shared,
    w: &mut crate::world::World,
    user: usize,
    action: &str,
    members_key: &str,
    members: Value,
) -> (String, Vec<Value>) {
    let now = s.clock.now_ms();
    let service_url = s.service_url();
    let conv = w.personal_conversation(user);
    let kind = ConvKind::Personal(user);
    let from = w.sender(user);
    let mut install = w.inbound(
        kinds::INSTALLATION_UPDATE,
        kind,
        &conv,
        from.clone(),
        now,
        &service_url,
    );
    install.insert("action".into(), json!(action));
    let mut update = w.inbound(
        kinds::CONVERSATION_UPDATE,
        kind,
        &conv,
        from,
        now,
        &service_url,
    );
    update.insert(members_key.into(), members);
    (conv, vec![Value::Object(install), Value::Object(update)])
}

/// Installs the bot in `user`'s personal scope. An install of an installed bot repeats the
/// events, as Teams does when it re-delivers them. Returns (was already installed,
/// conversation id, the bot's answers).
pub async fn install(s: &Arc<Shared>, user: usize) -> (bool, String, Vec<BotReply>) {
    let (first, conv, activities) = {
        let mut w = s.world.lock();
        let first = w.install(user);
        let members = json!([{"id": w.bot_id()}, w.sender(user)]);
        let (conv, activities) =
            personal_lifecycle(s, &mut w, user, "add", "membersAdded", members);
        (first, conv, activities)
    };
    (!first, conv, deliver_all(s, activities).await)
}

/// Removes the bot from `user`'s personal scope.
pub async fn uninstall(s: &Arc<Shared>, user: usize) -> (bool, Vec<BotReply>) {
    let activities = {
        let mut w = s.world.lock();
        if !w.uninstall(user) {
            return (false, Vec::new());
        }
        let members = json!([{"id": w.bot_id()}]);
        personal_lifecycle(s, &mut w, user, "remove", "membersRemoved", members).1
    };
    (true, deliver_all(s, activities).await)
}

/// The bot is added to (`add`) or removed from a group chat by `from`: Teams sends an
/// `installationUpdate` and a `conversationUpdate`, with `conversationType` `groupChat`. Nothing
/// is sent when nothing changes.
pub async fn group_chat_install(
    s: &Arc<Shared>,
    chat: usize,
    from: usize,
    add: bool,
) -> Result<Vec<BotReply>, PeopleError> {
    let activities = {
        let mut w = s.world.lock();
        if !w.group_chats[chat].members.contains(&from) {
            return Err(PeopleError::NotAMember(w.tenant.users[from].upn.clone()));
        }
        if w.group_chats[chat].bot_installed == add {
            return Ok(Vec::new());
        }
        w.group_chats[chat].bot_installed = add;
        let now = s.clock.now_ms();
        let service_url = s.service_url();
        let id = w.group_chats[chat].id.clone();
        let kind = ConvKind::GroupChat(chat);
        let sender = w.sender(from);
        let mut install = w.inbound(
            kinds::INSTALLATION_UPDATE,
            kind,
            &id,
            sender.clone(),
            now,
            &service_url,
        );
        install.insert("action".into(), json!(if add { "add" } else { "remove" }));
        let mut update = w.inbound(
            kinds::CONVERSATION_UPDATE,
            kind,
            &id,
            sender,
            now,
            &service_url,
        );
        let key = if add {
            "membersAdded"
        } else {
            "membersRemoved"
        };
        update.insert(key.into(), json!([{"id": w.bot_id()}]));
        vec![Value::Object(install), Value::Object(update)]
    };
    Ok(deliver_all(s, activities).await)
}

/// `from` writes in a group chat. As in Teams, the bot hears it only when the message
/// @mentions it (and the bot is in the chat): `None` when it hears nothing.
pub async fn group_chat_message(
    s: &Arc<Shared>,
    chat: usize,
    from: usize,
    text: &str,
    mention: bool,
) -> Result<(String, Option<BotReply>), PeopleError> {
    let now = s.clock.now_ms();
    let service_url = s.service_url();
    let transcripts = s.config.read().transcripts;
    let (id, heard) = {
        let mut w = s.world.lock();
        if !w.group_chats[chat].members.contains(&from) {
            return Err(PeopleError::NotAMember(w.tenant.users[from].upn.clone()));
        }
        let conv = w.group_chats[chat].id.clone();
        let sender = w.sender(from);
        let bot = w.bot_account();
        let mut m = w.inbound(
            kinds::MESSAGE,
            ConvKind::GroupChat(chat),
            &conv,
            sender,
            now,
            &service_url,
        );
        let at = format!("<at>{}</at>", bot["name"].as_str().unwrap_or("Bot"));
        m.insert(
            "text".into(),
            json!(if mention {
                format!("{at} {text}")
            } else {
                text.to_owned()
            }),
        );
        m.insert("textFormat".into(), json!("plain"));
        if mention {
            if let Some(Value::Array(entities)) = m.get_mut("entities") {
                entities.push(json!({"type": "mention", "text": at, "mentioned": bot}));
            }
        }
        let v = Value::Object(m);
        let id = v["id"].as_str().unwrap_or_default().to_owned();
        if transcripts {
            if let Some(c) = w.conversation_mut(&conv) {
                c.push(id.clone(), v.to_string());
            }
        }
        let heard = (mention && w.group_chats[chat].bot_installed).then_some(v);
        (id, heard)
    };
    let reply = match heard {
        Some(activity) => Some(s.bot.deliver(s, &activity).await),
        None => None,
    };
    Ok((id, reply))
}

/// Blocking tells the bot nothing: only later sends find out.
pub fn set_blocked(s: &Shared, user: usize, blocked: bool) {
    s.world.lock().users[user].blocked = blocked;
}

/// The user writes to the bot in their 1:1 chat.
pub async fn message(
    s: &Arc<Shared>,
    user: usize,
    text: &str,
) -> Result<(String, BotReply), PeopleError> {
    let now = s.clock.now_ms();
    let service_url = s.service_url();
    let transcripts = s.config.read().transcripts;
    let activity = {
        let mut w = s.world.lock();
        if !w.reachable(user) {
            return Err(PeopleError::NotInstalled);
        }
        let conv = w.personal_conversation(user);
        let from = w.sender(user);
        let mut m = w.inbound(
            kinds::MESSAGE,
            ConvKind::Personal(user),
            &conv,
            from,
            now,
            &service_url,
        );
        m.insert("text".into(), json!(text));
        m.insert("textFormat".into(), json!("plain"));
        let v = Value::Object(m);
        if transcripts {
            let id = v["id"].as_str().unwrap_or_default().to_owned();
            if let Some(c) = w.conversation_mut(&conv) {
                c.push(id, v.to_string());
            }
        }
        v
    };
    let id = activity["id"].as_str().unwrap_or_default().to_owned();
    Ok((id, s.bot.deliver(s, &activity).await))
}

/// What reading produced: nothing for the bot when the user turned read receipts off.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Read {
    /// The message read up to.
    pub activity_id: String,
    /// Teams' read-receipt event was sent to the bot (its answer), or not (receipts off).
    pub bot_response: Option<BotReply>,
}

/// The latest message the bot sent in a conversation (with transcripts on).
fn latest_from_bot(w: &World, conv: &str, bot_id: &str) -> Option<String> {
    let c = w.conversation(conv)?;
    c.log.iter().rev().find_map(|a| {
        let v: Value = serde_json::from_str(&a.raw).ok()?;
        (v["from"]["id"] == bot_id && !a.deleted).then(|| a.id.clone())
    })
}

/// The user reads their 1:1 chat up to `activity_id` (default: the bot's latest message), and
/// Teams tells the bot so — unless the user turned read receipts off.
pub async fn read(
    s: &Arc<Shared>,
    user: usize,
    activity_id: Option<&str>,
) -> Result<Read, PeopleError> {
    let now = s.clock.now_ms();
    let service_url = s.service_url();
    let transcripts = s.config.read().transcripts;
    let (id, event) = {
        let mut w = s.world.lock();
        if !w.reachable(user) {
            return Err(PeopleError::NotInstalled);
        }
        let conv = w.personal_conversation(user);
        let bot_id = w.bot_id();
        let id = match activity_id {
            Some(id) if transcripts && w.conversation(&conv).and_then(|c| c.find(id)).is_none() => {
                return Err(PeopleError::NoSuchActivity(id.to_owned()))
            }
            Some(id) => id.to_owned(),
            None if !transcripts => return Err(PeopleError::TranscriptsOff),
            None => latest_from_bot(&w, &conv, &bot_id).ok_or(PeopleError::NothingToRead)?,
        };
        if w.users[user].receipts_off {
            return Ok(Read {
                activity_id: id,
                bot_response: None,
            });
        }
        let from = w.sender(user);
        let mut e = w.inbound(
            kinds::EVENT,
            ConvKind::Personal(user),
            &conv,
            from,
            now,
            &service_url,
        );
        e.insert("name".into(), json!(EVENT_READ_RECEIPT));
        e.insert("value".into(), json!({"lastReadMessageId": id}));
        (id, Value::Object(e))
    };
    Ok(Read {
        activity_id: id,
        bot_response: Some(s.bot.deliver(s, &event).await),
    })
}

/// The user adds (or removes) a reaction to a message in their 1:1 chat; Teams tells the bot.
pub async fn react(
    s: &Arc<Shared>,
    user: usize,
    activity_id: &str,
    reaction: &str,
    remove: bool,
) -> Result<BotReply, PeopleError> {
    let now = s.clock.now_ms();
    let service_url = s.service_url();
    let transcripts = s.config.read().transcripts;
    let event = {
        let mut w = s.world.lock();
        if !w.reachable(user) {
            return Err(PeopleError::NotInstalled);
        }
        let conv = w.personal_conversation(user);
        if transcripts
            && w.conversation(&conv)
                .and_then(|c| c.find(activity_id))
                .is_none()
        {
            return Err(PeopleError::NoSuchActivity(activity_id.to_owned()));
        }
        let from = w.sender(user);
        let mut m = w.inbound(
            kinds::MESSAGE_REACTION,
            ConvKind::Personal(user),
            &conv,
            from,
            now,
            &service_url,
        );
        let list = if remove {
            "reactionsRemoved"
        } else {
            "reactionsAdded"
        };
        m.insert(list.into(), json!([{"type": reaction}]));
        m.insert("replyToId".into(), json!(activity_id));
        Value::Object(m)
    };
    Ok(s.bot.deliver(s, &event).await)
}

/// What pressing a button produced.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pressed {
    pub action_type: String,
    pub bot_response: BotReply,
    /// An `Action.Execute` whose answer was a card: it replaced the pressed one.
    pub card_replaced: bool,
}

/// The user presses a card button; `action` is its title, id or verb.
pub async fn press(
    s: &Arc<Shared>,
    user: usize,
    activity_id: &str,
    action: &str,
    inputs: Map<String, Value>,
) -> Result<Pressed, PeopleError> {
    let now = s.clock.now_ms();
    let service_url = s.service_url();
    let (conv, activity, action_type) = {
        let mut w = s.world.lock();
        if !s.config.read().transcripts {
            return Err(PeopleError::TranscriptsOff);
        }
        if !w.reachable(user) {
            return Err(PeopleError::NotInstalled);
        }
        let conv = w
            .personal_of(user)
            .map(|c| c.id.clone())
            .ok_or_else(|| PeopleError::NoSuchActivity(activity_id.into()))?;
        let stored = w
            .conversation(&conv)
            .and_then(|c| c.find(activity_id))
            .filter(|a| !a.deleted)
            .ok_or_else(|| PeopleError::NoSuchActivity(activity_id.into()))?;
        let sent: Value = serde_json::from_str(&stored.raw).unwrap_or(Value::Null);
        let card = sent["attachments"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["contentType"] == card::CONTENT_TYPE)
            .map(|a| a["content"].clone())
            .ok_or_else(|| PeopleError::NoCard(activity_id.into()))?;
        let found =
            find_action(&card, action).ok_or_else(|| PeopleError::NoSuchAction(action.into()))?;
        let values = input_values(&card, inputs)?;
        let data = match found.get("data") {
            None | Some(Value::Null) => Value::Object(values),
            Some(Value::Object(d)) => {
                let mut d = d.clone();
                d.extend(values);
                Value::Object(d)
            }
            Some(other) => other.clone(),
        };
        let action_type = found["type"].as_str().unwrap_or_default().to_owned();
        let from = w.sender(user);
        let kind = ConvKind::Personal(user);
        let activity = if action_type == "Action.Execute" {
            let mut a = w.inbound(kinds::INVOKE, kind, &conv, from, now, &service_url);
            a.insert("name".into(), json!(INVOKE_ADAPTIVE_CARD_ACTION));
            a.insert("replyToId".into(), json!(activity_id));
            a.insert(
                "value".into(),
                json!({"action": {"type": "Action.Execute", "title": found.get("title"), "id": found.get("id"), "verb": found.get("verb"), "data": data}, "trigger": "manual"}),
            );
            a
        } else {
            let mut a = w.inbound(kinds::MESSAGE, kind, &conv, from, now, &service_url);
            a.insert("text".into(), json!(""));
            a.insert("replyToId".into(), json!(activity_id));
            a.insert("value".into(), data);
            if let Some(cd) = a.get_mut("channelData") {
                cd["source"] = json!({"name": "message"});
                cd["legacy"] = json!({"replyToId": activity_id});
            }
            a
        };
        (conv, Value::Object(activity), action_type)
    };
    let reply = s.bot.deliver(s, &activity).await;
    let mut card_replaced = false;
    if action_type == "Action.Execute" && reply.status == Some(200) {
        if let Some(body) = &reply.body {
            if body["statusCode"] == 200 && body["type"] == card::INVOKE_RESPONSE_CARD {
                card_replaced = replace_card(s, &conv, activity_id, body["value"].clone(), now);
            }
        }
    }
    Ok(Pressed {
        action_type,
        bot_response: reply,
        card_replaced,
    })
}

fn replace_card(s: &Shared, conv: &str, activity_id: &str, card_json: Value, now: u64) -> bool {
    let mut w = s.world.lock();
    let Some(stored) = w
        .conversation_mut(conv)
        .and_then(|c| c.find_mut(activity_id))
    else {
        return false;
    };
    let mut v: Value = serde_json::from_str(&stored.raw).unwrap_or(Value::Null);
    v["attachments"] = json!([{"contentType": card::CONTENT_TYPE, "content": card_json}]);
    v["timestamp"] = json!(herald_core::clock::rfc3339_ms(now));
    let previous = std::mem::replace(&mut stored.raw, v.to_string());
    stored.history.push(previous);
    stored.updated = true;
    true
}

/// Every object in the card whose `type` satisfies `pred`, depth first (body, containers,
/// columns, action sets, show-card cards, select actions).
fn collect<'a>(v: &'a Value, pred: &dyn Fn(&str) -> bool, out: &mut Vec<&'a Map<String, Value>>) {
    match v {
        Value::Object(m) => {
            if m.get("type").and_then(Value::as_str).is_some_and(pred) {
                out.push(m);
            }
            for child in m.values() {
                collect(child, pred, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect(c, pred, out)),
        _ => {}
    }
}

fn find_action<'a>(card: &'a Value, name: &str) -> Option<&'a Map<String, Value>> {
    let mut actions = Vec::new();
    collect(
        card,
        &|t| t == "Action.Submit" || t == "Action.Execute",
        &mut actions,
    );
    let is = |a: &&Map<String, Value>, key: &str| a.get(key).and_then(Value::as_str) == Some(name);
    actions
        .iter()
        .find(|a| is(a, "title"))
        .or_else(|| actions.iter().find(|a| is(a, "verb")))
        .or_else(|| actions.iter().find(|a| is(a, "id")))
        .copied()
}

/// The values the card submits: what the user typed, else each input's default; unknown ids
/// and missing required inputs are refused, as Teams' client refuses to submit them.
fn input_values(
    card: &Value,
    given: Map<String, Value>,
) -> Result<Map<String, Value>, PeopleError> {
    let mut inputs = Vec::new();
    collect(card, &|t| t.starts_with("Input."), &mut inputs);
    let id_of = |i: &Map<String, Value>| i.get("id").and_then(Value::as_str).map(str::to_owned);
    if let Some(unknown) = given.keys().find(|k| {
        !inputs
            .iter()
            .any(|i| id_of(i).as_deref() == Some(k.as_str()))
    }) {
        return Err(PeopleError::UnknownInput(unknown.clone()));
    }
    let mut out = Map::new();
    for input in inputs {
        let Some(id) = id_of(input) else { continue };
        let value = given
            .get(&id)
            .cloned()
            .or_else(|| input.get("value").cloned());
        let empty = value
            .as_ref()
            .is_none_or(|v| v.is_null() || v.as_str().is_some_and(str::is_empty));
        if empty && input.get("isRequired") == Some(&Value::Bool(true)) {
            return Err(PeopleError::MissingInput(id));
        }
        if let Some(v) = value {
            out.insert(id, v);
        }
    }
    Ok(out)
}

/// The bot is added to a team: the team's `conversationUpdate` (bot added) and
/// `installationUpdate`.
pub async fn install_in_team(s: &Arc<Shared>, team: usize) -> Vec<BotReply> {
    team_event(
        s,
        team,
        |w, a| {
            w.tenant.teams[team].bot_installed = true;
            a.insert("membersAdded".into(), json!([{"id": w.bot_id()}]));
            None
        },
        Some("add"),
    )
    .await
}

pub async fn uninstall_from_team(s: &Arc<Shared>, team: usize) -> Vec<BotReply> {
    team_event(
        s,
        team,
        |w, a| {
            w.tenant.teams[team].bot_installed = false;
            a.insert("membersRemoved".into(), json!([{"id": w.bot_id()}]));
            None
        },
        Some("remove"),
    )
    .await
}

/// A user joins a team: `teamMemberAdded` when the bot is installed there.
pub async fn add_team_member(
    s: &Arc<Shared>,
    team: usize,
    user: usize,
) -> Result<Vec<BotReply>, PeopleError> {
    let installed = {
        let mut w = s.world.lock();
        if !w.tenant.teams[team].members.contains(&user) {
            w.tenant.teams[team].members.push(user);
        }
        w.tenant.teams[team].bot_installed
    };
    if !installed {
        return Ok(Vec::new());
    }
    Ok(team_event(
        s,
        team,
        |w, a| {
            a.insert("membersAdded".into(), json!([w.sender(user)]));
            Some("teamMemberAdded")
        },
        None,
    )
    .await)
}

/// A team is deleted or restored (`teamDeleted` / `teamRestored`).
pub async fn set_team_deleted(
    s: &Arc<Shared>,
    team: usize,
    deleted: bool,
) -> Result<Vec<BotReply>, PeopleError> {
    if !s.world.lock().tenant.teams[team].bot_installed {
        return Err(PeopleError::TeamWithoutBot);
    }
    Ok(team_event(
        s,
        team,
        |w, _| {
            w.team_deleted[team] = deleted;
            Some(if deleted {
                "teamDeleted"
            } else {
                "teamRestored"
            })
        },
        None,
    )
    .await)
}

/// Builds one team `conversationUpdate` (and an `installationUpdate` when `install_action`
/// is given), letting `shape` change the world and the activity and name the event type.
async fn team_event(
    s: &Arc<Shared>,
    team: usize,
    shape: impl FnOnce(&mut crate::world::World, &mut Map<String, Value>) -> Option<&'static str>,
    install_action: Option<&str>,
) -> Vec<BotReply> {
    let now = s.clock.now_ms();
    let service_url = s.service_url();
    let activities = {
        let mut w = s.world.lock();
        let conv = w.tenant.teams[team].thread_id.clone();
        let kind = ConvKind::Channel(team);
        // Someone in the team acts; Teams names the first member as the actor.
        let actor = w.tenant.teams[team].members.first().copied();
        let from = actor
            .map(|u| w.sender(u))
            .unwrap_or_else(|| json!({"id": "29:system"}));
        let mut out = Vec::new();
        if let Some(action) = install_action {
            let mut i = w.inbound(
                kinds::INSTALLATION_UPDATE,
                kind,
                &conv,
                from.clone(),
                now,
                &service_url,
            );
            i.insert("action".into(), json!(action));
            out.push(i);
        }
        let mut a = w.inbound(
            kinds::CONVERSATION_UPDATE,
            kind,
            &conv,
            from,
            now,
            &service_url,
        );
        let event = shape(&mut w, &mut a);
        if let Some(cd) = a.get_mut("channelData") {
            cd["eventType"] = json!(event.unwrap_or(if install_action == Some("remove") {
                "teamMemberRemoved"
            } else {
                "teamMemberAdded"
            }));
        }
        out.push(a);
        out.into_iter().map(Value::Object).collect()
    };
    deliver_all(s, activities).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> Value {
        json!({"type": "AdaptiveCard", "version": "1.5", "body": [
            {"type": "Input.Text", "id": "comment", "isRequired": true},
            {"type": "Input.ChoiceSet", "id": "size", "value": "m", "choices": []},
            {"type": "ActionSet", "actions": [{"type": "Action.Execute", "title": "Approve", "verb": "approve", "data": {"k": 1}}]}
        ], "actions": [{"type": "Action.Submit", "title": "Reject", "id": "r"},
                       {"type": "Action.ShowCard", "title": "More", "card": {"type": "AdaptiveCard", "actions": [{"type": "Action.Submit", "title": "Deep"}]}}]})
    }

    #[test]
    fn finds_actions_by_title_verb_or_id_anywhere_in_the_card() {
        let c = card();
        assert_eq!(find_action(&c, "Approve").unwrap()["verb"], "approve");
        assert_eq!(find_action(&c, "approve").unwrap()["title"], "Approve");
        assert_eq!(find_action(&c, "r").unwrap()["title"], "Reject");
        assert_eq!(find_action(&c, "Deep").unwrap()["type"], "Action.Submit");
        assert!(
            find_action(&c, "More").is_none(),
            "ShowCard does not submit"
        );
    }

    #[test]
    fn inputs_take_defaults_and_refuse_unknown_or_missing_required() {
        let c = card();
        let mut given = Map::new();
        given.insert("comment".into(), json!("ok"));
        let v = input_values(&c, given).unwrap();
        assert_eq!(v["comment"], "ok");
        assert_eq!(v["size"], "m");
        assert!(
            matches!(input_values(&c, Map::new()), Err(PeopleError::MissingInput(i)) if i == "comment")
        );
        let mut bad = Map::new();
        bad.insert("nope".into(), json!(1));
        assert!(matches!(
            input_values(&c, bad),
            Err(PeopleError::UnknownInput(_))
        ));
    }
}
