//! What changes while the emulator runs: who installed or blocked the bot, the conversations
//! and what they received, the chats people made through Graph.

use crate::tenant::{stable_token, Tenant};
use herald_wire::activity::CHANNEL_MSTEAMS;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct UserState {
    /// The `installedApps` id while the bot is installed in the user's personal scope.
    pub installation: Option<String>,
    pub blocked: bool,
    /// The user turned read receipts off in Teams: reading sends the bot nothing.
    pub receipts_off: bool,
    /// The user's IANA time zone, sent in `clientInfo` (`None`: `Etc/UTC`).
    pub time_zone: Option<String>,
    /// The language of the user's Teams, sent as the activities' `locale` (`None`: `en-US`).
    pub locale: Option<String>,
    /// Activity-feed notifications sent to the user through Graph.
    pub feed: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKind {
    Personal(usize),
    Channel(usize),
    /// A group chat, by its index in `World::group_chats`.
    GroupChat(usize),
}

/// A group chat people made, and whether the bot was added to it.
#[derive(Debug, Clone)]
pub struct GroupChatState {
    pub id: String,
    pub topic: String,
    pub members: Vec<usize>,
    pub bot_installed: bool,
}

/// One activity a conversation received, as sent (JSON text keeps memory predictable).
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    pub raw: String,
    pub updated: bool,
    pub deleted: bool,
    pub history: Vec<String>,
}

#[derive(Debug)]
pub struct Conversation {
    pub id: String,
    pub kind: ConvKind,
    pub log: Vec<Stored>,
    by_id: HashMap<String, usize>,
}

impl Conversation {
    pub fn find(&self, activity_id: &str) -> Option<&Stored> {
        self.by_id.get(activity_id).map(|&i| &self.log[i])
    }

    pub fn find_mut(&mut self, activity_id: &str) -> Option<&mut Stored> {
        self.by_id.get(activity_id).map(|&i| &mut self.log[i])
    }

    pub fn push(&mut self, id: String, raw: String) {
        self.by_id.insert(id.clone(), self.log.len());
        self.log.push(Stored {
            id,
            raw,
            updated: false,
            deleted: false,
            history: Vec::new(),
        });
    }
}

#[derive(Debug, Clone)]
pub struct ChatMessage {
    pub id: String,
    pub from: usize,
    pub content_type: String,
    pub content: String,
    pub created_ms: u64,
    /// When its sender last changed it (`PATCH`).
    pub edited_ms: Option<u64>,
    /// When its sender deleted it (`softDelete`): it stays, marked.
    pub deleted_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Chat {
    pub id: String,
    pub chat_type: &'static str,
    pub topic: Option<String>,
    pub members: Vec<usize>,
    pub messages: Vec<ChatMessage>,
    pub created_ms: u64,
}

pub struct World {
    pub tenant: Tenant,
    pub users: Vec<UserState>,
    pub team_deleted: Vec<bool>,
    index: HashMap<String, usize>,
    by_teams_id: HashMap<String, usize>,
    conversations: HashMap<String, Conversation>,
    personal: HashMap<usize, String>,
    /// Graph's chat id for a bot's 1:1 chat (`19:…@unq.gbl.spaces`) → the connector's `a:…` id.
    aliases: HashMap<String, String>,
    pub chats: HashMap<String, Chat>,
    one_on_one: HashMap<(usize, usize), String>,
    /// Group chats with people (and perhaps the bot) in them.
    pub group_chats: Vec<GroupChatState>,
    /// How many times a user cleared their chat with the bot: each clear makes a new 1:1.
    personal_generation: HashMap<usize, u32>,
    next_id: u64,
}

impl World {
    pub fn new(tenant: Tenant) -> Self {
        let mut index = HashMap::new();
        let mut by_teams_id = HashMap::new();
        for (i, u) in tenant.users.iter().enumerate() {
            index.insert(u.aad.to_lowercase(), i);
            index.insert(u.upn.to_lowercase(), i);
            index.entry(u.mail.to_lowercase()).or_insert(i);
            by_teams_id.insert(u.teams_id.clone(), i);
        }
        let mut w = Self {
            users: vec![UserState::default(); tenant.users.len()],
            team_deleted: vec![false; tenant.teams.len()],
            index,
            by_teams_id,
            conversations: HashMap::new(),
            personal: HashMap::new(),
            aliases: HashMap::new(),
            chats: HashMap::new(),
            one_on_one: HashMap::new(),
            group_chats: Vec::new(),
            personal_generation: HashMap::new(),
            next_id: 1_700_000_000_000,
            tenant,
        };
        for u in w.tenant.preinstalled.clone() {
            w.install(u);
            w.personal_conversation(u);
        }
        for u in w.tenant.preblocked.clone() {
            w.users[u].blocked = true;
        }
        for t in 0..w.tenant.teams.len() {
            let id = w.tenant.teams[t].thread_id.clone();
            w.conversations.insert(
                id.clone(),
                Conversation {
                    id,
                    kind: ConvKind::Channel(t),
                    log: Vec::new(),
                    by_id: HashMap::new(),
                },
            );
        }
        w
    }

    pub fn summary(&self) -> String {
        let guests = self.tenant.users.iter().filter(|u| u.guest).count();
        format!(
            "tenant {} ({}): {} users ({} guests from another tenant), {} teams, {} groups",
            self.tenant.domain,
            self.tenant.tenant_id,
            self.tenant.users.len(),
            guests,
            self.tenant.teams.len(),
            self.tenant.groups.len()
        )
    }

    pub fn bot_id(&self) -> String {
        format!("28:{}", self.tenant.app_id)
    }

    pub fn new_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    /// A user by UPN, mail, AAD object id (case-insensitive) or Teams id (exact).
    pub fn find_user(&self, key: &str) -> Option<usize> {
        self.by_teams_id
            .get(key)
            .or_else(|| self.index.get(&key.to_lowercase()))
            .copied()
    }

    pub fn find_team(&self, key: &str) -> Option<usize> {
        self.tenant
            .teams
            .iter()
            .position(|t| t.thread_id == key || t.group_id.eq_ignore_ascii_case(key))
    }

    pub fn find_group(&self, key: &str) -> Option<usize> {
        self.tenant
            .groups
            .iter()
            .position(|g| g.id.eq_ignore_ascii_case(key))
    }

    /// Teams lets a bot reach a user who installed it, or who shares a team where it is installed.
    pub fn reachable(&self, user: usize) -> bool {
        self.users[user].installation.is_some()
            || self.tenant.teams.iter().enumerate().any(|(t, team)| {
                team.bot_installed && !self.team_deleted[t] && team.members.contains(&user)
            })
    }

    pub fn installed(&self, user: usize) -> bool {
        self.users[user].installation.is_some()
    }

    /// Marks the bot installed for `user`; returns false if it already was.
    pub fn install(&mut self, user: usize) -> bool {
        if self.users[user].installation.is_some() {
            return false;
        }
        let id = stable_token(
            &format!(
                "{}/{}/install",
                self.tenant.app_id, self.tenant.users[user].aad
            ),
            48,
        );
        self.users[user].installation = Some(id);
        true
    }

    pub fn uninstall(&mut self, user: usize) -> bool {
        self.users[user].installation.take().is_some()
    }

    /// The bot's 1:1 conversation with `user`, made on first use. Teams keeps one per
    /// (bot, user), so the same id comes back forever.
    pub fn personal_conversation(&mut self, user: usize) -> String {
        if let Some(id) = self.personal.get(&user) {
            return id.clone();
        }
        let aad = self.tenant.users[user].aad.clone();
        let seed = match self.personal_generation.get(&user) {
            None | Some(0) => format!("{}/{aad}/personal", self.tenant.app_id),
            Some(n) => format!("{}/{aad}/personal/{n}", self.tenant.app_id),
        };
        let id = format!("a:1{}", stable_token(&seed, 60));
        let alias = self.bot_chat_id(user);
        self.aliases.insert(alias, id.clone());
        self.conversations.insert(
            id.clone(),
            Conversation {
                id: id.clone(),
                kind: ConvKind::Personal(user),
                log: Vec::new(),
                by_id: HashMap::new(),
            },
        );
        self.personal.insert(user, id.clone());
        id
    }

    /// The user deleted their chat with the bot: the conversation is gone (sends get 404
    /// `ConversationNotFound`), and the next CreateConversation makes a new one. Returns false
    /// when there was none.
    pub fn clear_history(&mut self, user: usize) -> bool {
        let Some(id) = self.personal.remove(&user) else {
            return false;
        };
        self.conversations.remove(&id);
        let alias = self.bot_chat_id(user);
        self.aliases.remove(&alias);
        *self.personal_generation.entry(user).or_default() += 1;
        true
    }

    /// A group chat of `members` (at least two people); the bot is not in it yet.
    pub fn create_group_chat(&mut self, members: Vec<usize>, topic: String) -> String {
        let n = self.group_chats.len();
        let id = format!(
            "19:{}@thread.v2",
            stable_token(&format!("{}/groupchat/{n}", self.tenant.tenant_id), 32)
        );
        self.group_chats.push(GroupChatState {
            id: id.clone(),
            topic,
            members,
            bot_installed: false,
        });
        self.conversations.insert(
            id.clone(),
            Conversation {
                id: id.clone(),
                kind: ConvKind::GroupChat(n),
                log: Vec::new(),
                by_id: HashMap::new(),
            },
        );
        id
    }

    pub fn find_group_chat(&self, id: &str) -> Option<usize> {
        self.group_chats.iter().position(|g| g.id == id)
    }

    /// Graph's id of the bot's chat with `user`.
    pub fn bot_chat_id(&self, user: usize) -> String {
        format!(
            "19:{}_{}@unq.gbl.spaces",
            self.tenant.users[user].aad, self.tenant.app_id
        )
    }

    pub fn existing_personal(&self, user: usize) -> Option<&String> {
        self.personal.get(&user)
    }

    /// A conversation by its connector id or by Graph's chat id for it.
    pub fn conversation_mut(&mut self, id: &str) -> Option<&mut Conversation> {
        let id = self.aliases.get(id).map(String::as_str).unwrap_or(id);
        self.conversations.get_mut(id)
    }

    pub fn conversation(&self, id: &str) -> Option<&Conversation> {
        let id = self.aliases.get(id).map(String::as_str).unwrap_or(id);
        self.conversations.get(id)
    }

    /// The canonical connector id of a conversation, following Graph chat-id aliases.
    pub fn canonical(&self, id: &str) -> Option<String> {
        self.conversation(id).map(|c| c.id.clone())
    }

    pub fn personal_of(&self, user: usize) -> Option<&Conversation> {
        self.personal
            .get(&user)
            .and_then(|id| self.conversations.get(id))
    }

    /// The members of a conversation, in roster order.
    pub fn members(&self, kind: ConvKind) -> Vec<usize> {
        match kind {
            ConvKind::Personal(u) => vec![u],
            ConvKind::Channel(t) => self.tenant.teams[t].members.clone(),
            ConvKind::GroupChat(g) => self.group_chats[g].members.clone(),
        }
    }

    /// A `TeamsChannelAccount` for a member.
    pub fn account(&self, user: usize) -> Value {
        let u = &self.tenant.users[user];
        json!({
            "id": u.teams_id,
            "name": u.display_name,
            "aadObjectId": u.aad,
            "objectId": u.aad,
            "givenName": u.given_name,
            "surname": u.surname,
            "email": u.mail,
            "userPrincipalName": u.upn,
            "tenantId": self.tenant.tenant_id,
            "userRole": if u.guest { "guest" } else { "user" },
        })
    }

    /// The `from` of an activity a user sends.
    pub fn sender(&self, user: usize) -> Value {
        let u = &self.tenant.users[user];
        json!({"id": u.teams_id, "name": u.display_name, "aadObjectId": u.aad})
    }

    pub fn bot_account(&self) -> Value {
        json!({"id": self.bot_id(), "name": self.tenant.app_name})
    }

    /// The `conversation` of activities in a conversation.
    pub fn conversation_account(&self, kind: ConvKind, id: &str) -> Value {
        match kind {
            ConvKind::Personal(_) => json!({
                "conversationType": "personal",
                "tenantId": self.tenant.tenant_id,
                "id": id,
            }),
            ConvKind::Channel(t) => json!({
                "isGroup": true,
                "conversationType": "channel",
                "tenantId": self.tenant.tenant_id,
                "id": id,
                "name": self.tenant.teams[t].name,
            }),
            ConvKind::GroupChat(g) => json!({
                "isGroup": true,
                "conversationType": "groupChat",
                "tenantId": self.tenant.tenant_id,
                "id": id,
                "name": self.group_chats[g].topic,
            }),
        }
    }

    /// The envelope every activity from Teams to the bot shares.
    pub fn inbound(
        &mut self,
        kind: &str,
        conv: ConvKind,
        conv_id: &str,
        from: Value,
        now_ms: u64,
        service_url: &str,
    ) -> Map<String, Value> {
        let mut channel_data = json!({"tenant": {"id": self.tenant.tenant_id}});
        if let ConvKind::Channel(t) = conv {
            let team = &self.tenant.teams[t];
            channel_data["team"] =
                json!({"id": team.thread_id, "name": team.name, "aadGroupId": team.group_id});
            channel_data["channel"] = json!({"id": team.thread_id, "name": "General"});
        }
        let id = self.new_id();
        let (zone, locale) = match conv {
            ConvKind::Personal(u) => (
                self.users[u].time_zone.clone(),
                self.users[u].locale.clone(),
            ),
            _ => (None, None),
        };
        let zone = zone.unwrap_or_else(|| "Etc/UTC".to_owned());
        let locale = locale.unwrap_or_else(|| "en-US".to_owned());
        let v = json!({
            "type": kind,
            "id": id,
            "timestamp": herald_core::clock::rfc3339_ms(now_ms),
            "localTimestamp": herald_core::clock::rfc3339_ms(now_ms),
            "serviceUrl": service_url,
            "channelId": CHANNEL_MSTEAMS,
            "from": from,
            "recipient": self.bot_account(),
            "conversation": self.conversation_account(conv, conv_id),
            "channelData": channel_data,
            "locale": locale,
            "localTimezone": zone,
            "entities": [{"type": "clientInfo", "locale": locale, "country": "US", "platform": "Web", "timezone": zone}],
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!("built as an object"),
        }
    }

    /// A 1:1 chat between two users, reused if it exists (Graph returns the existing one).
    pub fn one_on_one_chat(&mut self, a: usize, b: usize, now_ms: u64) -> (String, bool) {
        let key = (a.min(b), a.max(b));
        if let Some(id) = self.one_on_one.get(&key) {
            return (id.clone(), false);
        }
        let (x, y) = (&self.tenant.users[key.0].aad, &self.tenant.users[key.1].aad);
        let id = format!("19:{x}_{y}@unq.gbl.spaces");
        self.one_on_one.insert(key, id.clone());
        self.chats.insert(
            id.clone(),
            Chat {
                id: id.clone(),
                chat_type: "oneOnOne",
                topic: None,
                members: vec![key.0, key.1],
                messages: Vec::new(),
                created_ms: now_ms,
            },
        );
        (id, true)
    }

    pub fn group_chat(&mut self, members: Vec<usize>, topic: String, now_ms: u64) -> String {
        let id = format!(
            "19:{}@thread.v2",
            stable_token(&format!("group/{}/{topic}", self.next_id), 32)
        );
        self.next_id += 1;
        self.chats.insert(
            id.clone(),
            Chat {
                id: id.clone(),
                chat_type: "group",
                topic: Some(topic),
                members,
                messages: Vec::new(),
                created_ms: now_ms,
            },
        );
        id
    }

    /// Transcript entries of a conversation in the control API's shape.
    pub fn transcript(&self, conv: &Conversation) -> Vec<Value> {
        conv.log.iter().map(transcript_entry).collect()
    }
}

fn transcript_entry(s: &Stored) -> Value {
    let v: Value = serde_json::from_str(&s.raw).unwrap_or(Value::Null);
    let pick = |v: &Value| {
        json!({
            "type": v.get("type"),
            "text": v.get("text"),
            "attachments": v.get("attachments"),
            "channelData": v.get("channelData"),
            "value": v.get("value"),
        })
    };
    let mut out = pick(&v);
    out["id"] = json!(s.id);
    out["from"] = v.get("from").cloned().unwrap_or(Value::Null);
    out["timestamp"] = v.get("timestamp").cloned().unwrap_or(Value::Null);
    out["replyToId"] = v.get("replyToId").cloned().unwrap_or(Value::Null);
    out["updated"] = json!(s.updated);
    out["deleted"] = json!(s.deleted);
    out["history"] = Value::Array(
        s.history
            .iter()
            .map(|h| pick(&serde_json::from_str(h).unwrap_or(Value::Null)))
            .collect(),
    );
    out
}
