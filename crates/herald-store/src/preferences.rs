//! What each person asked not to receive: one row per opt-out (a category, or `all`), keyed by
//! tenant and AAD object id (lowercase, as Teams and Graph spell the same id in either case).

use crate::store::{db, PgStore, SqliteStore};
use crate::*;
use async_trait::async_trait;
use herald_core::category::{Category, OptOut, ALL};
use sqlx::Row as _;

#[async_trait]
pub trait Preferences: Send + Sync {
    /// The person's opt-outs, `all` first, then categories by name.
    async fn opt_outs(&self, tenant: &TenantId, aad: &AadObjectId) -> Result<Vec<OptOut>>;
    /// Adds (`on`) or removes an opt-out; whether anything changed. Removing `all` removes every
    /// opt-out of the person (`start all`: every category again).
    async fn set_opt_out(
        &self,
        tenant: &TenantId,
        aad: &AadObjectId,
        what: &OptOut,
        on: bool,
        now: u64,
    ) -> Result<bool>;
    /// Makes the person's opt-outs exactly these.
    async fn replace_opt_outs(
        &self,
        tenant: &TenantId,
        aad: &AadObjectId,
        what: &[OptOut],
        now: u64,
    ) -> Result<()>;
    /// The opt-outs of any of these people (a batch of deliveries), with whose each is.
    async fn opt_outs_among(
        &self,
        tenant: &TenantId,
        aads: &[AadObjectId],
    ) -> Result<Vec<(AadObjectId, OptOut)>>;
}

fn read(name: String) -> OptOut {
    if name == ALL {
        OptOut::All
    } else {
        OptOut::One(Category::trusted(name))
    }
}

fn key(aad: &AadObjectId) -> String {
    aad.to_ascii_lowercase()
}

macro_rules! impl_preferences {
    ($store:ty) => {
        #[async_trait]
        impl Preferences for $store {
            async fn opt_outs(&self, tenant: &TenantId, aad: &AadObjectId) -> Result<Vec<OptOut>> {
                let sql = format!(
                    "SELECT category FROM opt_outs WHERE tenant_id = {} AND aad_object_id = {}",
                    self.param(1),
                    self.param(2)
                );
                let rows = sqlx::query(&sql)
                    .bind(tenant.as_str())
                    .bind(key(aad))
                    .fetch_all(self.readers())
                    .await?;
                let mut out = rows
                    .iter()
                    .map(|r| r.try_get::<String, _>("category").map(read))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                out.sort();
                Ok(out)
            }

            async fn set_opt_out(
                &self,
                tenant: &TenantId,
                aad: &AadObjectId,
                what: &OptOut,
                on: bool,
                now: u64,
            ) -> Result<bool> {
                let (p1, p2, p3, p4) = (self.param(1), self.param(2), self.param(3), self.param(4));
                let sql = match (on, what) {
                    (true, _) => format!(
                        "INSERT INTO opt_outs (tenant_id, aad_object_id, category, created_at) \
                         VALUES ({p1}, {p2}, {p3}, {p4}) ON CONFLICT DO NOTHING"
                    ),
                    (false, OptOut::All) => format!(
                        "DELETE FROM opt_outs WHERE tenant_id = {p1} AND aad_object_id = {p2}"
                    ),
                    (false, OptOut::One(_)) => format!(
                        "DELETE FROM opt_outs WHERE tenant_id = {p1} AND aad_object_id = {p2} AND category = {p3}"
                    ),
                };
                let mut q = sqlx::query(&sql).bind(tenant.as_str()).bind(key(aad));
                match (on, what) {
                    (true, _) => q = q.bind(what.as_str()).bind(db(now)),
                    (false, OptOut::All) => {}
                    (false, OptOut::One(c)) => q = q.bind(c.as_str()),
                }
                Ok(q.execute(&self.pool).await?.rows_affected() > 0)
            }

            async fn replace_opt_outs(
                &self,
                tenant: &TenantId,
                aad: &AadObjectId,
                what: &[OptOut],
                now: u64,
            ) -> Result<()> {
                let (p1, p2, p3, p4) = (self.param(1), self.param(2), self.param(3), self.param(4));
                let mut tx = self.pool.begin().await?;
                sqlx::query(&format!(
                    "DELETE FROM opt_outs WHERE tenant_id = {p1} AND aad_object_id = {p2}"
                ))
                .bind(tenant.as_str())
                .bind(key(aad))
                .execute(&mut *tx)
                .await?;
                let insert = format!(
                    "INSERT INTO opt_outs (tenant_id, aad_object_id, category, created_at) \
                     VALUES ({p1}, {p2}, {p3}, {p4}) ON CONFLICT DO NOTHING"
                );
                for o in what {
                    sqlx::query(&insert)
                        .bind(tenant.as_str())
                        .bind(key(aad))
                        .bind(o.as_str())
                        .bind(db(now))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn opt_outs_among(
                &self,
                tenant: &TenantId,
                aads: &[AadObjectId],
            ) -> Result<Vec<(AadObjectId, OptOut)>> {
                let mut out = Vec::new();
                for chunk in aads.chunks(500) {
                    let marks: Vec<String> = (0..chunk.len()).map(|i| self.param(i + 2)).collect();
                    let sql = format!(
                        "SELECT aad_object_id, category FROM opt_outs WHERE tenant_id = {} AND aad_object_id IN ({})",
                        self.param(1),
                        marks.join(", ")
                    );
                    let mut q = sqlx::query(&sql).bind(tenant.as_str());
                    for a in chunk {
                        q = q.bind(key(a));
                    }
                    for row in q.fetch_all(self.readers()).await? {
                        let aad: AadObjectId = crate::store::id(&row, "aad_object_id")?;
                        out.push((aad, read(row.try_get("category")?)));
                    }
                }
                Ok(out)
            }
        }
    };
}

impl_preferences!(SqliteStore);
impl_preferences!(PgStore);
