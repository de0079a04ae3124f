//! Who a recipient is: a UPN / e-mail, an AAD object id or a Teams user id, resolved through the
//! installation store first and the directory (Graph) second. Guests from other tenants are
//! recognised so they can be reported as `external_user`.

use crate::Engine;
use herald_connector::{ConnectorError, GraphUser};
use herald_core::ids::{AadObjectId, Upn, UserRef};
use herald_store::StoredReference;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    /// As the caller named them.
    pub input: String,
    pub aad_object_id: Option<AadObjectId>,
    pub upn: Option<Upn>,
    pub display_name: Option<String>,
    /// From the directory, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    pub guest: bool,
}

impl Recipient {
    /// The key that deduplicates one person named several ways.
    pub fn key(&self) -> String {
        match &self.aad_object_id {
            Some(a) => a.to_ascii_lowercase(),
            None => format!("input:{}", self.input.to_ascii_lowercase()),
        }
    }

    pub fn from_reference(input: &str, r: &StoredReference) -> Self {
        let upn = r.reference.upn.clone();
        Self {
            input: input.to_owned(),
            aad_object_id: Some(r.reference.aad_object_id.clone()),
            guest: upn.as_ref().is_some_and(Upn::is_guest),
            upn,
            display_name: r.reference.user_name.clone(),
            given_name: None,
        }
    }

    /// A directory entry; `None` when Graph's answer holds no usable object id.
    pub fn from_graph(input: &str, u: &GraphUser) -> Option<Self> {
        let upn = u.upn.clone().and_then(|u| Upn::parse(u).ok());
        Some(Self {
            input: input.to_owned(),
            aad_object_id: Some(AadObjectId::parse(u.id.clone()).ok()?),
            guest: u.guest || upn.as_ref().is_some_and(Upn::is_guest),
            upn,
            display_name: u.display_name.clone(),
            given_name: u.given_name.clone(),
        })
    }
}

/// `Ok(None)`: nobody by that name. `input` is how the caller wrote it (kept for the report).
pub async fn resolve(
    engine: &Engine,
    input: &str,
    who: &UserRef,
) -> Result<Option<Recipient>, ConnectorError> {
    let tenant = &engine.tenant;
    let stored = match who {
        UserRef::Upn(u) => engine.store.reference_by_upn(tenant, u).await,
        UserRef::AadObjectId(a) => engine.store.get_reference(tenant, a).await,
        UserRef::TeamsUser(t) => engine.store.reference_by_user_id(tenant, t).await,
    }
    .map_err(|e| ConnectorError::configuration(format!("store: {e}")))?;
    if let Some(r) = stored {
        return Ok(Some(Recipient::from_reference(input, &r)));
    }
    if matches!(who, UserRef::TeamsUser(_)) {
        // Only a conversation reference knows a Teams id; the directory does not.
        return Ok(None);
    }
    Ok(engine
        .graph
        .user(who.as_str())
        .await?
        .and_then(|u| Recipient::from_graph(input, &u)))
}

/// Why the recipients named in `to.users` cannot be accepted.
#[derive(Debug, thiserror::Error)]
pub enum NamedError {
    /// `to.users[index]` is nobody.
    #[error("no user `{name}` in the directory (or, for a Teams id, among the installations)")]
    Unknown { index: usize, name: String },
    /// The directory did not answer.
    #[error("the directory did not answer: {0}")]
    DirectoryDown(String),
}

/// The users a notification names directly, each looked up (16 at a time) when it is accepted,
/// so that an unknown one is refused at once rather than reported later. Everyone else (teams,
/// groups, CSV rows, everyone installed) is resolved by `resolve` after the accept.
pub async fn resolve_named(
    engine: &Arc<Engine>,
    users: &[String],
) -> Result<Vec<Recipient>, NamedError> {
    let mut out = Vec::with_capacity(users.len());
    for (c, names) in users.chunks(16).enumerate() {
        let lookups: Vec<_> = names
            .iter()
            .map(|u| {
                let (engine, u) = (engine.clone(), u.clone());
                tokio::spawn(async move {
                    match UserRef::parse(&u) {
                        Ok(who) => resolve(&engine, u.trim(), &who).await,
                        // Checked when the request was read: nobody by a name that is no id.
                        Err(_) => Ok(None),
                    }
                })
            })
            .collect();
        for (i, l) in lookups.into_iter().enumerate() {
            let index = c * 16 + i;
            let found = l
                .await
                .map_err(|e| NamedError::DirectoryDown(e.to_string()))?
                .map_err(|e| NamedError::DirectoryDown(e.to_string()))?;
            match found {
                Some(r) => out.push(r),
                None => {
                    return Err(NamedError::Unknown {
                        index,
                        name: users[index].clone(),
                    })
                }
            }
        }
    }
    Ok(out)
}
