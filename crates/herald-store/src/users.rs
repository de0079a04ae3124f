//! Signed-in users (sending as a user): one row per UPN with sealed tokens.

use crate::store::{db, id, ms, HasPool, PgStore, SqliteStore};
use crate::*;
use async_trait::async_trait;
use herald_core::ids::Upn;
use sqlx::Row as _;

#[async_trait]
pub trait UserTokens: Send + Sync {
    /// Inserts or replaces a user's tokens.
    async fn put_user_token(&self, t: &UserToken) -> Result<()>;
    async fn get_user_token(&self, upn: &Upn) -> Result<Option<UserToken>>;
    /// Signs a user out; false if they were not signed in.
    async fn delete_user_token(&self, upn: &Upn) -> Result<bool>;
    async fn list_user_tokens(&self) -> Result<Vec<UserToken>>;
}

impl UserToken {
    /// Whether the sign-in granted `scope` (`Chat.ReadWrite`, with or without Graph's resource
    /// in front, any case).
    pub fn grants(&self, scope: &str) -> bool {
        self.scopes.as_deref().is_some_and(|s| {
            s.split_whitespace().any(|g| {
                g.rsplit('/')
                    .next()
                    .unwrap_or(g)
                    .eq_ignore_ascii_case(scope)
            })
        })
    }
}

impl std::fmt::Debug for UserToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserToken")
            .field("upn", &self.upn)
            .field("aad_object_id", &self.aad_object_id)
            .field("access_expires_at", &self.access_expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

const COLS: &str = "upn, tenant_id, aad_object_id, display_name, refresh_token, access_token, \
    access_expires_at, created_at, updated_at, scopes";

fn q(postgres: bool, s: &str) -> String {
    let s = s.replace("{cols}", COLS);
    if postgres {
        s
    } else {
        s.replace('$', "?")
    }
}

macro_rules! impl_users {
    ($store:ty, $postgres:literal) => {
        impl $store {
            fn user_token(
                row: &<<$store as HasPool>::Db as sqlx::Database>::Row,
            ) -> Result<UserToken> {
                Ok(UserToken {
                    upn: id(row, "upn")?,
                    tenant_id: id(row, "tenant_id")?,
                    aad_object_id: id(row, "aad_object_id")?,
                    display_name: row.try_get("display_name")?,
                    refresh_token_sealed: row.try_get("refresh_token")?,
                    access_token_sealed: row.try_get("access_token")?,
                    access_expires_at: ms(row.try_get("access_expires_at")?),
                    created_at: ms(row.try_get("created_at")?),
                    updated_at: ms(row.try_get("updated_at")?),
                    scopes: row.try_get("scopes")?,
                })
            }
        }

        #[async_trait]
        impl UserTokens for $store {
            async fn put_user_token(&self, t: &UserToken) -> Result<()> {
                sqlx::query(&q(
                    $postgres,
                    "INSERT INTO user_tokens ({cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (upn) DO UPDATE SET tenant_id = excluded.tenant_id, \
                     aad_object_id = excluded.aad_object_id, display_name = excluded.display_name, \
                     refresh_token = excluded.refresh_token, access_token = excluded.access_token, \
                     access_expires_at = excluded.access_expires_at, updated_at = excluded.updated_at, \
                     scopes = excluded.scopes",
                ))
                .bind(t.upn.to_lowercase().into_string())
                .bind(&t.tenant_id.as_str())
                .bind(&t.aad_object_id.as_str())
                .bind(&t.display_name)
                .bind(&t.refresh_token_sealed)
                .bind(&t.access_token_sealed)
                .bind(db(t.access_expires_at))
                .bind(db(t.created_at))
                .bind(db(t.updated_at))
                .bind(&t.scopes)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_user_token(&self, upn: &Upn) -> Result<Option<UserToken>> {
                let row = sqlx::query(&q($postgres, "SELECT {cols} FROM user_tokens WHERE upn = $1"))
                    .bind(upn.to_lowercase().into_string())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::user_token).transpose()
            }

            async fn delete_user_token(&self, upn: &Upn) -> Result<bool> {
                let r = sqlx::query(&q($postgres, "DELETE FROM user_tokens WHERE upn = $1"))
                    .bind(upn.to_lowercase().into_string())
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn list_user_tokens(&self) -> Result<Vec<UserToken>> {
                let rows = sqlx::query(&q($postgres, "SELECT {cols} FROM user_tokens ORDER BY upn"))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::user_token).collect()
            }
        }
    };
}

impl_users!(SqliteStore, false);
impl_users!(PgStore, true);
