//! The recipient's hour: rows due later wait outside the claim index (`status` `waiting`) until
//! [`LocalTimes::start_waiting`] makes them pending at their time; a person's time zone is their
//! preference, else the one their Teams client last reported.

use crate::sql::Binds;
use crate::store::{db, PgStore, SqliteStore};
use crate::*;
use async_trait::async_trait;
use herald_core::ids::{AadObjectId, TenantId};
use sqlx::Row as _;
use std::collections::HashMap;

#[async_trait]
pub trait LocalTimes: Send + Sync {
    /// Waiting rows due by `now` become pending (at most `limit`, earliest first); returns how
    /// many.
    async fn start_waiting(&self, now: u64, limit: u32) -> Result<u64>;
    /// The time zones of these people (AAD object ids, as stored): their preference, else the
    /// one their client reported. People with neither are absent.
    async fn time_zones(
        &self,
        tenant: &TenantId,
        people: &[AadObjectId],
    ) -> Result<HashMap<String, String>>;
    /// Their Teams client reported `zone` (already checked to be one).
    async fn learn_time_zone(&self, tenant: &TenantId, aad: &AadObjectId, zone: &str)
        -> Result<()>;
    /// The zone the person chose (`/v1/preferences`), if any.
    async fn preferred_time_zone(
        &self,
        tenant: &TenantId,
        aad: &AadObjectId,
    ) -> Result<Option<String>>;
    /// Sets (or with `None` forgets) the zone the person chose.
    async fn set_preferred_time_zone(
        &self,
        tenant: &TenantId,
        aad: &AadObjectId,
        zone: Option<&str>,
        now: u64,
    ) -> Result<()>;
}

macro_rules! impl_local_times {
    ($store:ty, $postgres:literal) => {
        #[async_trait]
        impl LocalTimes for $store {
            async fn start_waiting(&self, now: u64, limit: u32) -> Result<u64> {
                let sql = format!(
                    "UPDATE deliveries SET status = 'pending', updated_at = {now} WHERE status = 'waiting' \
                     AND (notification_id, seq) IN (SELECT notification_id, seq FROM deliveries \
                     WHERE status = 'waiting' AND due_at <= {now} ORDER BY due_at LIMIT {limit})",
                    now = db(now),
                    limit = limit.clamp(1, 10_000)
                );
                let n = sqlx::query(&sql).execute(&self.pool).await?.rows_affected();
                if n > 0 {
                    // Rows behind where claims start: they look from the start again.
                    self.floors.forget_all();
                }
                Ok(n)
            }

            async fn time_zones(&self, tenant: &TenantId, people: &[AadObjectId]) -> Result<HashMap<String, String>> {
                let mut out = HashMap::new();
                for chunk in people.chunks(500) {
                    let ids: Vec<String> = chunk.iter().map(|a| a.as_str().to_owned()).collect();
                    // The preference wins: read second, it overwrites.
                    for table in ["conversation_refs", "preferred_time_zones"] {
                        let mut b = Binds::new($postgres);
                        let t = b.p(tenant.as_str());
                        let list = b.list(&ids);
                        let sql = format!(
                            "SELECT aad_object_id, time_zone FROM {table} \
                             WHERE tenant_id = {t} AND aad_object_id IN {list} AND time_zone IS NOT NULL"
                        );
                        let mut q = sqlx::query(&sql);
                        for v in &b.values {
                            q = q.bind(v.as_str());
                        }
                        for r in q.fetch_all(self.readers()).await? {
                            out.insert(r.try_get("aad_object_id")?, r.try_get("time_zone")?);
                        }
                    }
                }
                Ok(out)
            }

            async fn learn_time_zone(&self, tenant: &TenantId, aad: &AadObjectId, zone: &str) -> Result<()> {
                let sql = if $postgres {
                    "UPDATE conversation_refs SET time_zone = $1 WHERE tenant_id = $2 AND aad_object_id = $3 \
                     AND time_zone IS DISTINCT FROM $1"
                } else {
                    "UPDATE conversation_refs SET time_zone = ?1 WHERE tenant_id = ?2 AND aad_object_id = ?3 \
                     AND time_zone IS NOT ?1"
                };
                sqlx::query(sql).bind(zone).bind(tenant.as_str()).bind(aad.as_str()).execute(&self.pool).await?;
                Ok(())
            }

            async fn preferred_time_zone(&self, tenant: &TenantId, aad: &AadObjectId) -> Result<Option<String>> {
                let sql = if $postgres {
                    "SELECT time_zone FROM preferred_time_zones WHERE tenant_id = $1 AND aad_object_id = $2"
                } else {
                    "SELECT time_zone FROM preferred_time_zones WHERE tenant_id = ?1 AND aad_object_id = ?2"
                };
                Ok(sqlx::query_scalar(sql).bind(tenant.as_str()).bind(aad.as_str()).fetch_optional(&self.pool).await?)
            }

            async fn set_preferred_time_zone(
                &self,
                tenant: &TenantId,
                aad: &AadObjectId,
                zone: Option<&str>,
                now: u64,
            ) -> Result<()> {
                let (set, forget) = if $postgres {
                    (
                        "INSERT INTO preferred_time_zones (tenant_id, aad_object_id, time_zone, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id, aad_object_id) DO UPDATE SET time_zone = excluded.time_zone, updated_at = excluded.updated_at",
                        "DELETE FROM preferred_time_zones WHERE tenant_id = $1 AND aad_object_id = $2",
                    )
                } else {
                    (
                        "INSERT INTO preferred_time_zones (tenant_id, aad_object_id, time_zone, updated_at) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (tenant_id, aad_object_id) DO UPDATE SET time_zone = excluded.time_zone, updated_at = excluded.updated_at",
                        "DELETE FROM preferred_time_zones WHERE tenant_id = ?1 AND aad_object_id = ?2",
                    )
                };
                match zone {
                    Some(z) => {
                        sqlx::query(set).bind(tenant.as_str()).bind(aad.as_str()).bind(z).bind(db(now)).execute(&self.pool).await?
                    }
                    None => sqlx::query(forget).bind(tenant.as_str()).bind(aad.as_str()).execute(&self.pool).await?,
                };
                Ok(())
            }
        }
    };
}

impl_local_times!(SqliteStore, false);
impl_local_times!(PgStore, true);
