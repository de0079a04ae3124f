//! The two backends. The implementation of [`Store`] is written once, in `impl_store!`, and
//! instantiated for SQLite and PostgreSQL.
//!
//! Over 600 lines because the store is written once, in one macro instantiated for SQLite and
//! PostgreSQL; splitting the macro would split each operation from its transaction.

use crate::claim_floor::ClaimFloors;
use crate::migrations::{self, Migration};
use crate::sql::{self, Dialect, Queries};
use crate::*;
use herald_core::ids::{
    AadObjectId, ConversationId, Id, NotificationId, TeamsUserId, TenantId, Upn,
};
use herald_core::reason::Reason;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row as _;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Opens the store a URL names: `sqlite://FILE` (created if missing) or `postgres://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Err(StoreError::BadUrl(redact(url)))
    }
}

/// A database URL without its password, for messages and `Debug` output.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{user}:***@{}", &url[..s], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// SQLite's page cache, per connection (KiB). SQLite's default is 2 MiB: at a million rows the
/// pages an insert, a claim and an outcome touch no longer fit, and each step reads them back
/// from the OS. The writer's cache is kept whole between transactions; a reader's is dropped
/// whenever the database has changed since its last read, so a large one would only cost
/// memory (and the time SQLite takes to empty it).
const WRITER_CACHE_KIB: u32 = 16 * 1024;
const READER_CACHE_KIB: u32 = 2 * 1024;
const READERS: u32 = 4;
/// The writer checkpoints only if the log grows this long (pages of 4 KiB; SQLite's default is
/// 1,000): the engine's checkpointer ([`Store::checkpoint`]) keeps it shorter, off the writer.
const WAL_BACKSTOP_PAGES: u32 = 16_000;
/// The write-ahead log's file is cut back to this size after a checkpoint has emptied it.
const WAL_KEEP_BYTES: u64 = 64 << 20;

/// SQLite allows one writer at a time; writers that collide wait in SQLite's busy handler,
/// which sleeps in growing steps and shows up as tail latency. So writes go through one
/// connection (they queue in-process instead) and reads through a pool of their own.
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    readers: SqlitePool,
    /// Copies the write-ahead log back into the database, off the writer's thread (the writer
    /// does so itself only past `WAL_BACKSTOP_PAGES`): see [`Store::checkpoint`].
    checkpointer: Option<SqlitePool>,
    /// The log's length and frames copied at the last checkpoint.
    checkpointed: std::sync::Mutex<(i64, i64)>,
    /// Not used on SQLite (see `claim_floor`); here because the store is written once.
    pub(crate) floors: ClaimFloors,
    q: Queries,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                opts.clone()
                    .pragma("cache_size", format!("-{}", WRITER_CACHE_KIB))
                    .pragma("temp_store", "memory")
                    .pragma("wal_autocheckpoint", format!("{}", WAL_BACKSTOP_PAGES))
                    .pragma("journal_size_limit", format!("{}", WAL_KEEP_BYTES)),
            )
            .await?;
        // The writer creates the file and sets WAL first; readers open it read-only. An in-memory
        // database exists only on its own connection, so there the writer also reads.
        sqlx::query("SELECT 1").execute(&pool).await?;
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let checkpointer = if memory {
            None
        } else {
            Some(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts.clone().create_if_missing(false))
                    .await?,
            )
        };
        let readers = if memory {
            pool.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(READERS)
                .connect_with(
                    opts.create_if_missing(false)
                        .read_only(true)
                        .pragma("cache_size", format!("-{}", READER_CACHE_KIB)),
                )
                .await?
        };
        Ok(Self {
            pool,
            readers,
            checkpointer,
            checkpointed: std::sync::Mutex::new((0, 0)),
            floors: ClaimFloors::default(),
            q: Queries::new(Dialect::Sqlite),
        })
    }
}

pub struct PgStore {
    pub(crate) pool: PgPool,
    /// When `checkpoint_now` last looked at the tables' statistics.
    analyzed: std::sync::Mutex<Option<std::time::Instant>>,
    /// Where claims start in each notification's pending rows.
    pub(crate) floors: ClaimFloors,
    q: Queries,
}

impl PgStore {
    pub(crate) fn readers(&self) -> &PgPool {
        &self.pool
    }

    /// PostgreSQL checkpoints by itself. What it may not do is keep the planner's statistics
    /// current: with autovacuum off (as on this project's test machine), a table imported from
    /// empty to a million rows was planned as 1,000 rows, and each page of `allInstalled` read
    /// 850,000 (0.9 s a page). So, at most every 10 s, the tables that changed by a tenth since
    /// their last ANALYZE are analysed, as autovacuum would.
    async fn checkpoint_now(&self) -> Result<u64> {
        {
            let mut last = self
                .analyzed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
                return Ok(0);
            }
            *last = Some(std::time::Instant::now());
        }
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT relname::text FROM pg_stat_user_tables WHERE schemaname = current_schema() \
             AND relname IN ('conversation_refs', 'deliveries', 'notifications', 'delivery_tally') \
             AND n_mod_since_analyze > 1000 + n_live_tup / 10",
        )
        .fetch_all(&self.pool)
        .await?;
        for table in stale {
            // The name comes from the fixed list above.
            sqlx::query(&format!("ANALYZE {table}"))
                .execute(&self.pool)
                .await?;
        }
        Ok(0)
    }
}

impl SqliteStore {
    pub(crate) fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    async fn checkpoint_now(&self) -> Result<u64> {
        let Some(c) = &self.checkpointer else {
            return Ok(0);
        };
        // PASSIVE: copies what no reader still needs and waits for nobody. Answers (busy,
        // frames in the log, frames of the log copied so far); the log starts over (fewer
        // frames) once a writer finds it all copied.
        let (_, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(c)
            .await?;
        let mut last = self
            .checkpointed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = if log >= last.0 { last.1 } else { 0 };
        *last = (log, copied);
        Ok(ms(copied - before))
    }
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let opts = PgConnectOptions::from_str(url)?;
        Self::with_options(opts).await
    }

    /// Connects with every session's `search_path` set to `schema` (created if missing), so
    /// that test runs never share tables.
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self> {
        if !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::BadUrl(format!("schema `{schema}`")));
        }
        let base = PgConnectOptions::from_str(url)?;
        let setup = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(base.clone())
            .await?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .execute(&setup)
            .await?;
        setup.close().await;
        Self::with_options(base.options([("search_path", schema)])).await
    }

    async fn with_options(opts: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        Ok(Self {
            pool,
            analyzed: std::sync::Mutex::new(None),
            floors: ClaimFloors::default(),
            q: Queries::new(Dialect::Postgres),
        })
    }

    pub async fn drop_schema(&self, schema: &str) -> Result<()> {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// An id column, as stored (the store holds only ids that were checked on their way in).
pub(crate) fn id<T: Id, R: sqlx::Row>(row: &R, col: &str) -> Result<T>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    Ok(T::trusted_id(row.try_get::<String, _>(col)?))
}

/// A nullable id column.
pub(crate) fn opt_id<T: Id, R: sqlx::Row>(row: &R, col: &str) -> Result<Option<T>>
where
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    Ok(row.try_get::<Option<String>, _>(col)?.map(T::trusted_id))
}

/// How one claim of `limit` rows is shared among the active notifications (listed by priority,
/// then age). Within a priority the order rotates with `turn`, so two notifications of one
/// priority take turns even when a claim is for a single row. The first pass splits the claim
/// evenly among the notifications of the highest priority present; the second lets each, in
/// order, take what the others left. So a one-person send gets its row within a claim or two
/// while a broadcast runs, and the broadcast still gets nearly every row.
pub(crate) fn claim_plan(
    active: &[(String, Priority)],
    limit: usize,
    turn: usize,
) -> [Vec<(usize, usize)>; 2] {
    let mut first = Vec::new();
    let mut order = Vec::new();
    let mut left = limit;
    for p in [Priority::High, Priority::Normal, Priority::Bulk] {
        let mut group: Vec<usize> = (0..active.len()).filter(|&i| active[i].1 == p).collect();
        if group.is_empty() {
            continue;
        }
        let n = group.len();
        group.rotate_left(turn % n);
        if left > 0 {
            let share = if p == Priority::High {
                left
            } else {
                left.div_ceil(n)
            };
            first.extend(group.iter().map(|&i| (i, share)));
            // The group may take all that was left; what it does not take, the second pass
            // hands on.
            left = 0;
        }
        order.extend(group);
    }
    let second = order.into_iter().map(|i| (i, limit)).collect();
    [first, second]
}

pub(crate) fn ms(v: i64) -> u64 {
    v.max(0) as u64
}

pub(crate) fn db(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// Changes to `delivery_tally` made by one transaction, by (notification, outcome, reason);
/// rows not done yet count under `("", "")`. Applied in key order, so that transactions of
/// several nodes take the counters' row locks in one order and never deadlock.
#[derive(Default)]
pub(crate) struct Tally(BTreeMap<(String, String, String), i64>);

impl Tally {
    fn add(&mut self, id: &str, outcome: &str, reason: &str, n: i64) {
        *self
            .0
            .entry((id.to_owned(), outcome.to_owned(), reason.to_owned()))
            .or_default() += n;
    }

    /// `n` rows of `id` went from not done to `outcome` / `reason`.
    pub(crate) fn finish(&mut self, id: &str, outcome: &str, reason: &str, n: i64) {
        self.add(id, "", "", -n);
        self.add(id, outcome, reason, n);
    }
}

macro_rules! impl_store {
    ($store:ty, $backend:literal, $migrations:expr, $begin_migration:expr) => {
        impl $store {
            pub(crate) async fn apply_tally(
                &self,
                tx: &mut sqlx::Transaction<'static, <$store as HasPool>::Db>,
                tally: Tally,
            ) -> Result<()> {
                for ((id, outcome, reason), n) in tally.0 {
                    if n != 0 {
                        sqlx::query(&self.q.tally)
                            .bind(id)
                            .bind(outcome)
                            .bind(reason)
                            .bind(n)
                            .execute(&mut **tx)
                            .await?;
                    }
                }
                Ok(())
            }

            fn reference(row: &<<$store as HasPool>::Db as sqlx::Database>::Row) -> Result<StoredReference> {
                let text = |c: &str| -> Result<String> { Ok(row.try_get::<String, _>(c)?) };
                let opt = |c: &str| -> Result<Option<String>> { Ok(row.try_get::<Option<String>, _>(c)?) };
                let corrupt = |c: &str, v: &str| StoreError::Corrupt(format!("{c} = `{v}`"));
                let source = text("source")?;
                let state = text("state")?;
                let welcome = text("welcome_status")?;
                Ok(StoredReference {
                    seq: row.try_get::<i64, _>("seq")?,
                    reference: Reference {
                        tenant_id: id(row, "tenant_id")?,
                        aad_object_id: id(row, "aad_object_id")?,
                        user_id: id(row, "user_id")?,
                        user_name: opt("user_name")?,
                        upn: opt_id(row, "upn")?,
                        bot_id: text("bot_id")?,
                        bot_name: opt("bot_name")?,
                        conversation_id: opt_id(row, "conversation_id")?,
                        conversation_type: text("conversation_type")?,
                        channel_id: text("channel_id")?,
                        service_url: text("service_url")?,
                        locale: opt("locale")?,
                        source: Source::parse(&source).ok_or_else(|| corrupt("source", &source))?,
                    },
                    state: RefState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
                    unreachable_reason: opt("unreachable_reason")?,
                    welcome: WelcomeStatus::parse(&welcome).ok_or_else(|| corrupt("welcome_status", &welcome))?,
                    welcome_activity_id: opt("welcome_activity_id")?,
                    last_active_at: row.try_get::<Option<i64>, _>("last_active_at")?.map(ms),
                    created_at: ms(row.try_get::<i64, _>("created_at")?),
                    updated_at: ms(row.try_get::<i64, _>("updated_at")?),
                })
            }

            pub(crate) fn notification(row: &<<$store as HasPool>::Db as sqlx::Database>::Row) -> Result<Notification> {
                let state: String = row.try_get("state")?;
                Ok(Notification {
                    seq: row.try_get("seq")?,
                    id: id(row, "id")?,
                    tenant_id: id(row, "tenant_id")?,
                    state: NotificationState::parse(&state)
                        .ok_or_else(|| StoreError::Corrupt(format!("notification state `{state}`")))?,
                    request: row.try_get("request")?,
                    send_at: row.try_get::<Option<i64>, _>("send_at")?.map(ms),
                    resolved: row.try_get::<i64, _>("resolved")? != 0,
                    total: ms(row.try_get::<i64, _>("total")?),
                    created_at: ms(row.try_get::<i64, _>("created_at")?),
                    started_at: row.try_get::<Option<i64>, _>("started_at")?.map(ms),
                    finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(ms),
                    created_by: row.try_get("created_by")?,
                    resolve_cursor: row.try_get("resolve_cursor")?,
                    priority: {
                        let r: i64 = row.try_get("priority")?;
                        Priority::from_rank(r).ok_or_else(|| StoreError::Corrupt(format!("priority {r}")))?
                    },
                })
            }

            pub(crate) fn delivery(row: &<<$store as HasPool>::Db as sqlx::Database>::Row) -> Result<Delivery> {
                let status: String = row.try_get("status")?;
                let outcome: Option<String> = row.try_get("outcome")?;
                let result = match outcome {
                    None => None,
                    Some(o) => Some(Verdict {
                        outcome: Outcome::parse(&o).ok_or_else(|| StoreError::Corrupt(format!("outcome `{o}`")))?,
                        status_code: row.try_get::<Option<i64>, _>("status_code")?.map(|c| c as u16),
                        reason: row
                            .try_get::<Option<String>, _>("reason")?
                            .map(|r| Reason::parse(&r).ok_or_else(|| StoreError::Corrupt(format!("reason `{r}`"))))
                            .transpose()?,
                    }),
                };
                Ok(Delivery {
                    notification_id: id(row, "notification_id")?,
                    seq: row.try_get("seq")?,
                    recipient: row.try_get("recipient")?,
                    recipient_key: row.try_get("recipient_key")?,
                    aad_object_id: opt_id(row, "aad_object_id")?,
                    upn: opt_id(row, "upn")?,
                    display_name: row.try_get("display_name")?,
                    data: row
                        .try_get::<Option<String>, _>("data")?
                        .map(|s| {
                            serde_json::from_str::<RowData>(&s)
                                .map_err(|e| StoreError::Corrupt(format!("delivery data: {e}")))
                        })
                        .transpose()?,
                    status: DeliveryStatus::parse(&status)
                        .ok_or_else(|| StoreError::Corrupt(format!("delivery status `{status}`")))?,
                    result,
                    attempts: row.try_get::<i64, _>("attempts")?.max(0) as u32,
                    activity_id: row.try_get("activity_id")?,
                    conversation_id: opt_id(row, "conversation_id")?,
                    detail: row.try_get("detail")?,
                    lease_token: row.try_get("lease_token")?,
                    possible_duplicate: row.try_get::<i64, _>("possible_duplicate")? != 0,
                    read_at: row.try_get::<Option<i64>, _>("read_at")?.map(ms),
                    reminded_at: row.try_get::<Option<i64>, _>("reminded_at")?.map(ms),
                    recalled_at: row.try_get::<Option<i64>, _>("recalled_at")?.map(ms),
                    recalled_by: row.try_get("recalled_by")?,
                    edited_at: row.try_get::<Option<i64>, _>("edited_at")?.map(ms),
                    edited_by: row.try_get("edited_by")?,
                    due_at: row.try_get::<Option<i64>, _>("due_at")?.map(ms),
                })
            }

            fn chat(row: &<<$store as HasPool>::Db as sqlx::Database>::Row) -> Result<StoredChat> {
                let state: String = row.try_get("state")?;
                Ok(StoredChat {
                    seq: row.try_get("seq")?,
                    chat: ChatReference {
                        tenant_id: id(row, "tenant_id")?,
                        conversation_id: id(row, "conversation_id")?,
                        name: row.try_get("name")?,
                        bot_id: row.try_get("bot_id")?,
                        channel_id: row.try_get("channel_id")?,
                        service_url: row.try_get("service_url")?,
                        installed_by: opt_id(row, "installed_by")?,
                    },
                    state: ChatState::parse(&state)
                        .ok_or_else(|| StoreError::Corrupt(format!("chat state `{state}`")))?,
                    created_at: ms(row.try_get::<i64, _>("created_at")?),
                    updated_at: ms(row.try_get::<i64, _>("updated_at")?),
                })
            }

            fn team(row: &<<$store as HasPool>::Db as sqlx::Database>::Row) -> Result<StoredTeam> {
                let state: String = row.try_get("state")?;
                Ok(StoredTeam {
                    team: TeamReference {
                        tenant_id: id(row, "tenant_id")?,
                        team_id: id(row, "team_id")?,
                        name: row.try_get("name")?,
                        aad_group_id: opt_id(row, "aad_group_id")?,
                        general_channel_id: id(row, "general_channel_id")?,
                        bot_id: row.try_get("bot_id")?,
                        channel_id: row.try_get("channel_id")?,
                        service_url: row.try_get("service_url")?,
                    },
                    state: TeamState::parse(&state)
                        .ok_or_else(|| StoreError::Corrupt(format!("team state `{state}`")))?,
                    created_at: ms(row.try_get::<i64, _>("created_at")?),
                    updated_at: ms(row.try_get::<i64, _>("updated_at")?),
                })
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn migrate(&self) -> Result<Vec<i64>> {
                let migrations: &[Migration] = $migrations;
                let mut tx = self.pool.begin().await?;
                let conn = &mut *tx;
                sqlx::Executor::execute(&mut *conn, $begin_migration).await?;
                sqlx::Executor::execute(
                    &mut *conn,
                    "CREATE TABLE IF NOT EXISTS herald_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                )
                .await?;
                let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM herald_migrations")
                    .fetch_all(&mut *conn)
                    .await?;
                let mut applied = Vec::new();
                for m in migrations.iter().filter(|m| !done.contains(&m.version)) {
                    sqlx::Executor::execute(&mut *conn, m.sql).await?;
                    // When it was applied, for the operator: the wall clock, through the one
                    // type allowed to read it (migrations run before any injected clock matters).
                    use herald_core::Clock as _;
                    let now = herald_core::clock::SystemClock.now_ms() as i64;
                    sqlx::query(&self.q_insert_migration())
                        .bind(m.version)
                        .bind(m.name)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                    tracing::info!(version = m.version, name = m.name, backend = $backend, "migration applied");
                    applied.push(m.version);
                }
                tx.commit().await?;
                Ok(applied)
            }

            async fn pending_migrations(&self) -> Result<Vec<i64>> {
                let migrations: &[Migration] = $migrations;
                let done: Vec<i64> = match sqlx::query_scalar("SELECT version FROM herald_migrations")
                    .fetch_all(self.readers())
                    .await
                {
                    Ok(v) => v,
                    // No table yet: nothing applied.
                    Err(sqlx::Error::Database(_)) => Vec::new(),
                    Err(e) => return Err(e.into()),
                };
                Ok(migrations.iter().map(|m| m.version).filter(|v| !done.contains(v)).collect())
            }

            async fn checkpoint(&self) -> Result<u64> {
                self.checkpoint_now().await
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(self.readers()).await?;
                Ok(())
            }

            async fn upsert_references(&self, refs: &[Reference], welcome: bool, now: u64) -> Result<u64> {
                // Rows a statement: well under SQLite's 32,766 parameters, few round trips.
                const PER_STATEMENT: usize = 500;
                let welcome = if welcome { WelcomeStatus::Pending } else { WelcomeStatus::None };
                // One statement may not touch a row twice (PostgreSQL refuses): the later wins.
                let mut last: HashMap<(&str, &str), usize> = HashMap::with_capacity(refs.len());
                for (i, r) in refs.iter().enumerate() {
                    last.insert((r.tenant_id.as_str(), r.aad_object_id.as_str()), i);
                }
                let kept: Vec<&Reference> = refs
                    .iter()
                    .enumerate()
                    .filter(|(i, r)| last.get(&(r.tenant_id.as_str(), r.aad_object_id.as_str())) == Some(i))
                    .map(|(_, r)| r)
                    .collect();
                let mut tx = self.pool.begin().await?;
                for chunk in kept.chunks(PER_STATEMENT) {
                    let sql = if chunk.len() == 1 {
                        std::borrow::Cow::Borrowed(self.q.upsert_reference.as_str())
                    } else {
                        std::borrow::Cow::Owned(sql::upsert_references(self.dialect(), chunk.len()))
                    };
                    let mut q = sqlx::query(&sql).persistent(false);
                    for r in chunk {
                        q = q
                            .bind(r.tenant_id.as_str())
                            .bind(r.aad_object_id.as_str())
                            .bind(r.user_id.as_str())
                            .bind(&r.user_name)
                            .bind(r.upn.as_ref().map(Id::id_str))
                            .bind(&r.bot_id)
                            .bind(&r.bot_name)
                            .bind(r.conversation_id.as_ref().map(Id::id_str))
                            .bind(&r.conversation_type)
                            .bind(&r.channel_id)
                            .bind(&r.service_url)
                            .bind(&r.locale)
                            .bind(r.source.as_str())
                            .bind(welcome.as_str())
                            .bind(db(now))
                            .bind(db(now));
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(kept.len() as u64)
            }

            async fn mark_unreachable(&self, tenant: &TenantId, aad: &AadObjectId, reason: &str, now: u64) -> Result<bool> {
                let r = sqlx::query(&self.q.mark_unreachable)
                    .bind(tenant.as_str())
                    .bind(aad.as_str())
                    .bind(reason)
                    .bind(db(now))
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn record_activity(&self, tenant: &TenantId, aad: &AadObjectId, now: u64) -> Result<bool> {
                let r = sqlx::query(&self.q.record_activity)
                    .bind(tenant.as_str())
                    .bind(aad.as_str())
                    .bind(db(now))
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn get_reference(&self, tenant: &TenantId, aad: &AadObjectId) -> Result<Option<StoredReference>> {
                let row = sqlx::query(&self.q.get_reference)
                    .bind(tenant.as_str())
                    .bind(aad.as_str())
                    .fetch_optional(self.readers())
                    .await?;
                row.as_ref().map(Self::reference).transpose()
            }

            async fn list_references(&self, q: &ListQuery) -> Result<Vec<StoredReference>> {
                let rows = sqlx::query(&self.q.list_references)
                    .bind(q.after.unwrap_or(0))
                    .bind(q.state.map_or("", RefState::as_str))
                    .bind(i64::from(q.limit.clamp(1, 1000)))
                    .fetch_all(self.readers())
                    .await?;
                rows.iter().map(Self::reference).collect()
            }

            async fn count_references(&self, state: Option<RefState>) -> Result<u64> {
                let n: i64 = sqlx::query_scalar(&self.q.count_references)
                    .bind(state.map_or("", RefState::as_str))
                    .fetch_one(self.readers())
                    .await?;
                Ok(n.max(0) as u64)
            }

            async fn claim_welcomes(&self, now: u64, lease_ms: u64, limit: u32) -> Result<Vec<StoredReference>> {
                let rows = sqlx::query(&self.q.claim_welcomes)
                    .bind(db(now))
                    .bind(db(now + lease_ms))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::reference).collect()
            }

            async fn finish_welcome(&self, tenant: &TenantId, aad: &AadObjectId, outcome: &WelcomeOutcome, now: u64) -> Result<()> {
                match outcome {
                    WelcomeOutcome::Sent { activity_id } => {
                        sqlx::query(&self.q.welcome_sent)
                            .bind(tenant.as_str())
                            .bind(aad.as_str())
                            .bind(activity_id)
                            .bind(db(now))
                            .execute(&self.pool)
                            .await?;
                    }
                    WelcomeOutcome::Retry { not_before } => {
                        sqlx::query(&self.q.welcome_retry)
                            .bind(tenant.as_str())
                            .bind(aad.as_str())
                            .bind(db(*not_before))
                            .bind(db(now))
                            .execute(&self.pool)
                            .await?;
                    }
                    WelcomeOutcome::Failed { .. } => {
                        sqlx::query(&self.q.welcome_failed)
                            .bind(tenant.as_str())
                            .bind(aad.as_str())
                            .bind(db(now))
                            .execute(&self.pool)
                            .await?;
                    }
                }
                Ok(())
            }

            async fn upsert_team(&self, t: &TeamReference, now: u64) -> Result<()> {
                sqlx::query(&self.q.upsert_team)
                    .bind(&t.tenant_id.as_str())
                    .bind(&t.team_id.as_str())
                    .bind(&t.name)
                    .bind(t.aad_group_id.as_ref().map(Id::id_str))
                    .bind(&t.general_channel_id.as_str())
                    .bind(&t.bot_id)
                    .bind(&t.channel_id)
                    .bind(&t.service_url)
                    .bind(db(now))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn set_team_state(&self, tenant: &TenantId, team_id: &ConversationId, state: TeamState, now: u64) -> Result<bool> {
                let r = sqlx::query(&self.q.set_team_state)
                    .bind(tenant.as_str())
                    .bind(team_id.as_str())
                    .bind(state.as_str())
                    .bind(db(now))
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn get_team(&self, tenant: &TenantId, team_id: &ConversationId) -> Result<Option<StoredTeam>> {
                let row = sqlx::query(&self.q.get_team)
                    .bind(tenant.as_str())
                    .bind(team_id.as_str())
                    .fetch_optional(self.readers())
                    .await?;
                row.as_ref().map(Self::team).transpose()
            }

            async fn list_teams(&self, state: Option<TeamState>, offset: u64, limit: u32) -> Result<Vec<StoredTeam>> {
                let rows = sqlx::query(&self.q.list_teams)
                    .bind(state.map_or("", TeamState::as_str))
                    .bind(offset as i64)
                    .bind(i64::from(limit.clamp(1, 1000)))
                    .fetch_all(self.readers())
                    .await?;
                rows.iter().map(Self::team).collect()
            }

            async fn upsert_chat(&self, c: &ChatReference, now: u64) -> Result<()> {
                sqlx::query(&self.q.upsert_chat)
                    .bind(&c.tenant_id.as_str())
                    .bind(&c.conversation_id.as_str())
                    .bind(&c.name)
                    .bind(&c.bot_id)
                    .bind(&c.channel_id)
                    .bind(&c.service_url)
                    .bind(c.installed_by.as_ref().map(Id::id_str))
                    .bind(db(now))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn set_chat_state(&self, tenant: &TenantId, conversation_id: &ConversationId, state: ChatState, now: u64) -> Result<bool> {
                let r = sqlx::query(&self.q.set_chat_state)
                    .bind(tenant.as_str())
                    .bind(conversation_id.as_str())
                    .bind(state.as_str())
                    .bind(db(now))
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn get_chat(&self, tenant: &TenantId, conversation_id: &ConversationId) -> Result<Option<StoredChat>> {
                let row = sqlx::query(&self.q.get_chat)
                    .bind(tenant.as_str())
                    .bind(conversation_id.as_str())
                    .fetch_optional(self.readers())
                    .await?;
                row.as_ref().map(Self::chat).transpose()
            }

            async fn list_chats(&self, state: Option<ChatState>, after: Option<i64>, limit: u32) -> Result<Vec<StoredChat>> {
                let rows = sqlx::query(&self.q.list_chats)
                    .bind(after.unwrap_or(0))
                    .bind(state.map_or("", ChatState::as_str))
                    .bind(i64::from(limit.clamp(1, 1000)))
                    .fetch_all(self.readers())
                    .await?;
                rows.iter().map(Self::chat).collect()
            }

            async fn suppress_welcome(&self, tenant: &TenantId, aad: &AadObjectId) -> Result<()> {
                sqlx::query(&self.q.suppress_welcome).bind(tenant.as_str()).bind(aad.as_str()).execute(&self.pool).await?;
                Ok(())
            }

            async fn reference_by_upn(&self, tenant: &TenantId, upn: &Upn) -> Result<Option<StoredReference>> {
                let row = sqlx::query(&self.q.reference_by_upn).bind(tenant.as_str()).bind(upn.as_str()).fetch_optional(self.readers()).await?;
                row.as_ref().map(Self::reference).transpose()
            }

            async fn reference_by_user_id(&self, tenant: &TenantId, user_id: &TeamsUserId) -> Result<Option<StoredReference>> {
                let row = sqlx::query(&self.q.reference_by_user_id).bind(tenant.as_str()).bind(user_id.as_str()).fetch_optional(self.readers()).await?;
                row.as_ref().map(Self::reference).transpose()
            }

            async fn references_for(&self, tenant: &TenantId, aads: &[AadObjectId]) -> Result<Vec<StoredReference>> {
                let mut out = Vec::with_capacity(aads.len());
                for chunk in aads.chunks(500) {
                    let marks: Vec<String> = (0..chunk.len()).map(|i| self.param(i + 2)).collect();
                    let sql = format!(
                        "SELECT {} FROM conversation_refs WHERE tenant_id = {} AND aad_object_id IN ({})",
                        crate::sql::REF_COLS,
                        self.param(1),
                        marks.join(", ")
                    );
                    let mut q = sqlx::query(&sql).persistent(false).bind(tenant.as_str());
                    for a in chunk {
                        q = q.bind(a.as_str());
                    }
                    for row in q.fetch_all(self.readers()).await? {
                        out.push(Self::reference(&row)?);
                    }
                }
                Ok(out)
            }

            async fn create_notification(&self, n: &NewNotification, now: u64) -> Result<Created> {
                let state = match n.send_at {
                    Some(t) if t > now => NotificationState::Scheduled,
                    _ => NotificationState::Resolving,
                };
                let row = sqlx::query(&self.q.insert_notification)
                    .bind(&n.id.as_str())
                    .bind(&n.tenant_id.as_str())
                    .bind(state.as_str())
                    .bind(&n.request)
                    .bind(&n.body_hash)
                    .bind(&n.idempotency_key)
                    .bind(n.send_at.map(db))
                    .bind(db(now))
                    .bind(&n.created_by)
                    .bind(n.priority.rank())
                    .bind(i64::from(n.keep_together))
                    .bind(n.remind_after_ms.map(db))
                    .bind(i64::from(n.events))
                    .bind(&n.events_url)
                    .fetch_optional(&self.pool)
                    .await?;
                if let Some(row) = row {
                    return Ok(Created::New(Self::notification(&row)?));
                }
                let Some(key) = &n.idempotency_key else {
                    return Err(StoreError::Corrupt(format!("notification id {} already exists", n.id)));
                };
                let row = sqlx::query(&self.q.notification_by_key).bind(key).fetch_one(&self.pool).await?;
                let hash: String = row.try_get("body_hash")?;
                let existing = Self::notification(&row)?;
                Ok(if hash == n.body_hash { Created::Existing(existing) } else { Created::Conflict })
            }

            async fn get_notification(&self, id: &NotificationId) -> Result<Option<Notification>> {
                let row = sqlx::query(&self.q.get_notification).bind(id.as_str()).fetch_optional(self.readers()).await?;
                row.as_ref().map(Self::notification).transpose()
            }

            async fn list_notifications(&self, before: Option<i64>, limit: u32) -> Result<Vec<Notification>> {
                let rows = sqlx::query(&self.q.list_notifications)
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(i64::from(limit.clamp(1, 1000)))
                    .fetch_all(self.readers())
                    .await?;
                rows.iter().map(Self::notification).collect()
            }

            async fn start_due(&self, now: u64) -> Result<u64> {
                Ok(sqlx::query(&self.q.start_due).bind(db(now)).execute(&self.pool).await?.rows_affected())
            }

            async fn claim_resolution(&self, now: u64, lease_ms: u64) -> Result<Option<Notification>> {
                let row = sqlx::query(&self.q.claim_resolution)
                    .bind(db(now))
                    .bind(db(now + lease_ms))
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::notification).transpose()
            }

            async fn renew_resolution(&self, id: &NotificationId, until: u64, cursor: Option<&str>) -> Result<()> {
                sqlx::query(&self.q.renew_resolution).bind(id.as_str()).bind(db(until)).bind(cursor).execute(&self.pool).await?;
                Ok(())
            }

            async fn max_delivery_seq(&self, id: &NotificationId) -> Result<i64> {
                Ok(sqlx::query_scalar(&self.q.max_delivery_seq).bind(id.as_str()).fetch_one(&self.pool).await?)
            }

            async fn insert_deliveries(&self, id: &NotificationId, first_seq: i64, rows: &[NewDelivery], now: u64) -> Result<u64> {
                // Many rows a statement: one round trip per 200 recipients, not one each.
                const PER_STATEMENT: usize = 200;
                const COLS: usize = 14;
                let mut tx = self.pool.begin().await?;
                let mut added = 0;
                let mut tally = Tally::default();
                for (c, chunk) in rows.chunks(PER_STATEMENT).enumerate() {
                    let values: Vec<String> = (0..chunk.len())
                        .map(|r| {
                            let marks: Vec<String> = (1..=COLS).map(|k| self.param(r * COLS + k)).collect();
                            format!("({})", marks.join(", "))
                        })
                        .collect();
                    let sql = format!(
                        "INSERT INTO deliveries (notification_id, seq, recipient, recipient_key, aad_object_id, upn, \
                         display_name, data, status, outcome, status_code, reason, updated_at, due_at) VALUES {} ON CONFLICT DO NOTHING \
                         RETURNING outcome, reason",
                        values.join(", ")
                    );
                    let mut q = sqlx::query(&sql).persistent(false);
                    for (i, d) in chunk.iter().enumerate() {
                        let (status, outcome, code, reason) = match &d.decided {
                            None if d.due_at.is_some_and(|t| t > now) => ("waiting", None, None, None),
                            None => ("pending", None, None, None),
                            Some(r) => ("done", Some(r.outcome.as_str()), r.status_code.map(i64::from), r.reason.map(Reason::as_str)),
                        };
                        q = q
                            .bind(id.as_str())
                            .bind(first_seq + (c * PER_STATEMENT + i) as i64)
                            .bind(&d.recipient)
                            .bind(&d.recipient_key)
                            .bind(d.aad_object_id.as_ref().map(Id::id_str))
                            .bind(d.upn.as_ref().map(Id::id_str))
                            .bind(&d.display_name)
                            .bind(d.data.as_ref().map(|m| serde_json::Value::Object(m.clone()).to_string()))
                            .bind(status)
                            .bind(outcome)
                            .bind(code)
                            .bind(reason)
                            .bind(db(now))
                            .bind(d.due_at.map(db));
                    }
                    for row in q.fetch_all(&mut *tx).await? {
                        let outcome: Option<String> = row.try_get("outcome")?;
                        let reason: Option<String> = row.try_get("reason")?;
                        tally.add(id.as_str(), outcome.as_deref().unwrap_or(""), reason.as_deref().unwrap_or(""), 1);
                        added += 1;
                    }
                }
                self.apply_tally(&mut tx, tally).await?;
                tx.commit().await?;
                Ok(added)
            }

            async fn finish_resolution(&self, id: &NotificationId) -> Result<()> {
                sqlx::query(&self.q.finish_resolution).bind(id.as_str()).execute(&self.pool).await?;
                Ok(())
            }

            async fn claim_partition(&self, now: u64, lease_ms: u64, limit: u32, partition: Partition) -> Result<Vec<Delivery>> {
                let (count, index) = (i64::from(partition.count.max(1)), i64::from(partition.index));
                let mut listed = sqlx::query_as(&self.q.active_notification).bind(8i64);
                if $backend == "postgres" {
                    listed = listed.bind(count).bind(index).bind(self.floors.of_partition(count, index));
                }
                let listed: Vec<(String, i64, i64)> = listed.fetch_all(&self.pool).await?;
                let together: Vec<i64> = listed.iter().map(|l| l.2).collect();
                let active: Vec<(String, Priority)> = listed
                    .into_iter()
                    .map(|(id, p, _)| (id, Priority::from_rank(p).unwrap_or_default()))
                    .collect();
                let mut out: Vec<Delivery> = Vec::new();
                // Each claim's rows carry its token: only this claim may renew or record them.
                let token = (rand::random::<u64>() >> 1) as i64;
                let mut exhausted = vec![false; active.len()];
                for pass in claim_plan(&active, limit as usize, rand::random::<u32>() as usize) {
                    for (i, share) in pass {
                        let want = share.min(limit as usize - out.len());
                        if want == 0 || exhausted[i] {
                            continue;
                        }
                        let mut claim = sqlx::query(&self.q.claim_deliveries)
                            .bind(&active[i].0)
                            .bind(want as i64)
                            .bind(db(now + lease_ms))
                            .bind(db(now))
                            .bind(token);
                        if $backend == "postgres" {
                            let floor = self.floors.get(&active[i].0, count, index);
                            claim = claim.bind(count).bind(index).bind(together[i]).bind(floor);
                        }
                        let rows = claim.fetch_all(&self.pool).await?;
                        exhausted[i] = rows.len() < want;
                        let mut batch: Vec<Delivery> = rows.iter().map(Self::delivery).collect::<Result<_>>()?;
                        if $backend == "postgres" {
                            let seqs: Vec<i64> = batch.iter().map(|d| d.seq).collect();
                            self.floors.claimed(&active[i].0, count, index, want, &seqs);
                        }
                        batch.sort_by_key(|d| d.seq);
                        out.extend(batch);
                    }
                    if out.len() >= limit as usize {
                        break;
                    }
                }
                Ok(out)
            }

            async fn record_deliveries(&self, results: &[DeliveryResult], now: u64) -> Result<Vec<(NotificationId, i64)>> {
                // Many outcomes a statement: the rows come back that were still this claim's.
                const PER_STATEMENT: usize = 200;
                let mut tx = self.pool.begin().await?;
                let mut written: std::collections::HashSet<(String, i64)> = std::collections::HashSet::with_capacity(results.len());
                let mut tally = Tally::default();
                for chunk in results.chunks(PER_STATEMENT) {
                    let sql = sql::record_deliveries(self.dialect(), chunk.len());
                    // Not kept prepared (nor are the other statements whose length follows their
                    // batch): each size would stay in the connection's statement cache, and on
                    // SQLite a prepared statement of a few thousand parameters holds hundreds of
                    // kilobytes of the process's memory.
                    let mut q = sqlx::query(&sql).persistent(false);
                    for r in chunk {
                        q = q
                            .bind(r.notification_id.as_str())
                            .bind(r.seq)
                            .bind(r.result.outcome.as_str())
                            .bind(r.result.status_code.map(i64::from))
                            .bind(r.result.reason.map(Reason::as_str))
                            .bind(i64::from(r.attempts))
                            .bind(&r.activity_id)
                            .bind(r.conversation_id.as_ref().map(Id::id_str))
                            .bind(&r.detail)
                            .bind(r.lease_token)
                            .bind(i64::from(r.possible_duplicate))
                            .bind(db(now));
                    }
                    for row in q.fetch_all(&mut *tx).await? {
                        let id: String = row.try_get("notification_id")?;
                        let outcome: Option<String> = row.try_get("outcome")?;
                        let reason: Option<String> = row.try_get("reason")?;
                        tally.finish(&id, outcome.as_deref().unwrap_or(""), reason.as_deref().unwrap_or(""), 1);
                        written.insert((id, row.try_get("seq")?));
                    }
                }
                let mut lost = Vec::new();
                for r in results {
                    if !written.contains(&(r.notification_id.to_string(), r.seq)) {
                        lost.push((r.notification_id.clone(), r.seq));
                        continue;
                    }
                    if let (Some(w), Some(a), Some(c)) = (&r.wait, &r.activity_id, &r.conversation_id) {
                        sqlx::query(&self.q.open_response)
                            .bind(&r.notification_id.as_str())
                            .bind(r.seq)
                            .bind(&w.recipient)
                            .bind(w.aad_object_id.as_ref().map(Id::id_str))
                            .bind(c.as_str())
                            .bind(a)
                            .bind(db(w.deadline))
                            .bind(&w.callback_url)
                            .bind(db(now))
                            .execute(&mut *tx)
                            .await?;
                    }
                    if let Some((url, event)) = &r.events.callback {
                        crate::events::queue(&mut tx, $backend == "postgres", &r.notification_id, r.seq, url, *event, None, now).await?;
                    }
                    if r.events.watch_reactions {
                        let sql = if $backend == "postgres" {
                            "UPDATE deliveries SET watch = 1 WHERE notification_id = $1 AND seq = $2"
                        } else {
                            "UPDATE deliveries SET watch = 1 WHERE notification_id = ?1 AND seq = ?2"
                        };
                        sqlx::query(sql).bind(r.notification_id.as_str()).bind(r.seq).execute(&mut *tx).await?;
                    }
                }
                self.apply_tally(&mut tx, tally).await?;
                tx.commit().await?;
                Ok(lost)
            }

            async fn renew_deliveries(&self, leases: &[Lease], until: u64) -> Result<u64> {
                let mut tx = self.pool.begin().await?;
                let mut renewed = 0;
                for l in leases {
                    renewed += sqlx::query(&self.q.renew_delivery)
                        .bind(&l.notification_id.as_str())
                        .bind(l.seq)
                        .bind(l.token)
                        .bind(db(until))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(renewed)
            }

            async fn reclaim_expired(&self, now: u64) -> Result<u64> {
                let n = sqlx::query(&self.q.reclaim_expired).bind(db(now)).execute(&self.pool).await?.rows_affected();
                if n > 0 {
                    self.floors.forget_all();
                }
                Ok(n)
            }

            async fn complete_if_done(&self, id: &NotificationId, now: u64) -> Result<bool> {
                let unfinished: i64 = sqlx::query_scalar(&self.q.has_unfinished).bind(id.as_str()).fetch_one(&self.pool).await?;
                if unfinished > 0 {
                    return Ok(false);
                }
                let r = sqlx::query(&self.q.complete).bind(id.as_str()).bind(db(now)).execute(&self.pool).await?;
                Ok(r.rows_affected() > 0)
            }

            async fn cancel_notification(&self, id: &NotificationId, now: u64) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                let r = sqlx::query(&self.q.cancel_notification).bind(id.as_str()).bind(db(now)).execute(&mut *tx).await?;
                let mut canceled = 0;
                for q in [&self.q.cancel_deliveries, &self.q.cancel_waiting] {
                    canceled += sqlx::query(q).bind(id.as_str()).bind(db(now)).execute(&mut *tx).await?.rows_affected();
                }
                let mut tally = Tally::default();
                tally.finish(id.as_str(), Outcome::Canceled.as_str(), Reason::Canceled.as_str(), canceled as i64);
                self.apply_tally(&mut tx, tally).await?;
                tx.commit().await?;
                Ok(r.rows_affected() > 0)
            }

            async fn delivery_counts(&self, id: &NotificationId) -> Result<Counts> {
                let rows = sqlx::query(&self.q.delivery_counts).bind(id.as_str()).fetch_all(self.readers()).await?;
                let mut c = Counts::default();
                for row in rows {
                    let outcome: String = row.try_get("outcome")?;
                    let reason: String = row.try_get("reason")?;
                    let n = ms(row.try_get::<i64, _>("n")?);
                    match (Outcome::parse(&outcome), Reason::parse(&reason)) {
                        _ if outcome.is_empty() => c.pending += n,
                        _ if outcome == "seen" => c.seen += n,
                        _ if outcome == "recalled" => c.recalled += n,
                        (Some(Outcome::Delivered), _) => c.delivered += n,
                        (Some(Outcome::Skipped), Some(Reason::ChatActive)) => c.chat_active += n,
                        (Some(Outcome::Skipped), Some(Reason::OptedOut)) => c.opted_out += n,
                        (Some(Outcome::Skipped), _) => c.not_installed += n,
                        (Some(Outcome::Canceled), _) => c.canceled += n,
                        _ => c.failed += n,
                    }
                }
                Ok(c)
            }

            async fn list_deliveries(&self, id: &NotificationId, after_seq: i64, limit: u32) -> Result<Vec<Delivery>> {
                let rows = sqlx::query(&self.q.list_deliveries)
                    .bind(id.as_str())
                    .bind(after_seq)
                    .bind(i64::from(limit.clamp(1, 10_000)))
                    .fetch_all(self.readers())
                    .await?;
                rows.iter().map(Self::delivery).collect()
            }

            async fn get_delivery(&self, id: &NotificationId, seq: i64) -> Result<Option<Delivery>> {
                let row = sqlx::query(&self.q.get_delivery).bind(id.as_str()).bind(seq).fetch_optional(self.readers()).await?;
                row.as_ref().map(Self::delivery).transpose()
            }

            async fn queue_depth(&self) -> Result<u64> {
                let n: i64 = sqlx::query_scalar(&self.q.queue_depth).fetch_one(self.readers()).await?;
                Ok(ms(n))
            }
        }
    };
}

/// Names the database type behind a store, for the row-mapping signatures in `impl_store!`.
pub(crate) trait HasPool {
    type Db: sqlx::Database;
}

impl HasPool for SqliteStore {
    type Db = sqlx::Sqlite;
}

impl HasPool for PgStore {
    type Db = sqlx::Postgres;
}

impl SqliteStore {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    /// The `n`th parameter of a statement built at run time, where every parameter is bound
    /// in the order it appears: an anonymous `?` on SQLite (see [`sql::upsert_references`]
    /// for why not `?n`).
    pub(crate) fn param(&self, _n: usize) -> String {
        "?".to_owned()
    }

    fn q_insert_migration(&self) -> String {
        "INSERT INTO herald_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)".into()
    }
}

impl PgStore {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    pub(crate) fn param(&self, n: usize) -> String {
        format!("${n}")
    }

    fn q_insert_migration(&self) -> String {
        "INSERT INTO herald_migrations (version, name, applied_at) VALUES ($1, $2, $3)".into()
    }
}

// SQLite: BEGIN IMMEDIATE semantics come from the write below; PostgreSQL: an advisory lock so
// that several nodes starting at once migrate one at a time.
impl_store!(SqliteStore, "sqlite", migrations::SQLITE, "SELECT 1");
impl_store!(
    PgStore,
    "postgres",
    migrations::POSTGRES,
    "SELECT pg_advisory_xact_lock(7243811)"
);

#[cfg(test)]
mod tests {
    use super::{claim_plan, redact, Priority};

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redact("postgres://herald:s3cret@db:5432/x"),
            "postgres://herald:***@db:5432/x"
        );
        assert_eq!(redact("sqlite://herald.db"), "sqlite://herald.db");
    }

    #[test]
    fn notifications_of_one_priority_take_turns_and_higher_ones_go_first() {
        let active = vec![
            ("broadcast".to_owned(), Priority::Normal),
            ("one".to_owned(), Priority::Normal),
            ("later".to_owned(), Priority::Bulk),
        ];
        // One free permit at a time: the two normal ones alternate.
        let firsts: Vec<usize> = (0..4)
            .map(|turn| claim_plan(&active, 1, turn)[0][0].0)
            .collect();
        assert_eq!(firsts, [0, 1, 0, 1]);
        // The bulk one only takes what is left, last.
        let [first, second] = claim_plan(&active, 64, 0);
        assert_eq!(first, [(0, 32), (1, 32)]);
        assert_eq!(second.last(), Some(&(2, 64)));
        let high = vec![
            ("broadcast".to_owned(), Priority::Normal),
            ("urgent".to_owned(), Priority::High),
        ];
        assert_eq!(claim_plan(&high, 1, 7)[0], [(1, 1)]);
    }
}
