use serde::{Deserialize, Serialize};

/// What a bot must keep to write to a user later (TEAMS-PROTOCOL "A conversation reference to
/// keep"), plus the UPN when known. Ids are kept exactly as Teams gave them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub tenant_id: String,
    pub aad_object_id: String,
    /// The Teams user id (`29:…` in practice).
    pub user_id: String,
    pub user_name: Option<String>,
    pub upn: Option<String>,
    pub bot_id: String,
    pub bot_name: Option<String>,
    /// The 1:1 conversation; `None` for a user known only through a team (reachable by
    /// CreateConversation).
    pub conversation_id: Option<String>,
    pub conversation_type: String,
    pub channel_id: String,
    pub service_url: String,
    pub locale: Option<String>,
    pub source: Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The user installed the bot in their personal scope.
    PersonalInstall,
    /// The user is in a team where the bot is installed.
    TeamMember,
    /// Imported from another tool's store.
    Imported,
    /// Herald created the conversation itself.
    Created,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::PersonalInstall => "personal_install",
            Source::TeamMember => "team_member",
            Source::Imported => "imported",
            Source::Created => "created",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "personal_install" => Source::PersonalInstall,
            "team_member" => Source::TeamMember,
            "imported" => Source::Imported,
            "created" => Source::Created,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefState {
    Active,
    /// Uninstalled, blocked or gone: kept for audit, never used to send.
    Unreachable,
}

impl RefState {
    pub fn as_str(self) -> &'static str {
        match self {
            RefState::Active => "active",
            RefState::Unreachable => "unreachable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(RefState::Active),
            "unreachable" => Some(RefState::Unreachable),
            _ => None,
        }
    }
}

/// Where a user's welcome message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WelcomeStatus {
    /// None is due (known through a team, imported, or welcomes are off).
    None,
    Pending,
    Sending,
    Sent,
    Failed,
}

impl WelcomeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WelcomeStatus::None => "none",
            WelcomeStatus::Pending => "pending",
            WelcomeStatus::Sending => "sending",
            WelcomeStatus::Sent => "sent",
            WelcomeStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => WelcomeStatus::None,
            "pending" => WelcomeStatus::Pending,
            "sending" => WelcomeStatus::Sending,
            "sent" => WelcomeStatus::Sent,
            "failed" => WelcomeStatus::Failed,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WelcomeOutcome {
    Sent {
        activity_id: String,
    },
    /// Try again, not before this time (a transient failure, or a user who must reinstall).
    Retry {
        not_before: u64,
    },
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredReference {
    /// Position for cursor paging.
    pub seq: i64,
    #[serde(flatten)]
    pub reference: Reference,
    pub state: RefState,
    pub unreachable_reason: Option<String>,
    pub welcome: WelcomeStatus,
    pub welcome_activity_id: Option<String>,
    pub last_active_at: Option<u64>,
    pub created_at: u64,
    pub updated_at: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub state: Option<RefState>,
    /// Only rows after this `seq`.
    pub after: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamReference {
    pub tenant_id: String,
    /// The team's Bot Framework id (`19:…@thread.tacv2`), also its General channel's id.
    pub team_id: String,
    pub name: Option<String>,
    pub aad_group_id: Option<String>,
    pub general_channel_id: String,
    pub bot_id: String,
    pub channel_id: String,
    pub service_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamState {
    Active,
    /// The bot was removed from the team.
    Removed,
    /// The team was deleted (it may be restored).
    Deleted,
}

impl TeamState {
    pub fn as_str(self) -> &'static str {
        match self {
            TeamState::Active => "active",
            TeamState::Removed => "removed",
            TeamState::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(TeamState::Active),
            "removed" => Some(TeamState::Removed),
            "deleted" => Some(TeamState::Deleted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredTeam {
    #[serde(flatten)]
    pub team: TeamReference,
    pub state: TeamState,
    pub created_at: u64,
    pub updated_at: u64,
}
