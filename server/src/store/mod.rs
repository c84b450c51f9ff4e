//! Persistence: one SQLite database (embedded, no server to start) holding accounts,
//! server-side sessions, API tokens, hosts, settings and the audit log. Migrations run
//! at start.

pub mod audit;
pub mod groups;
pub mod hosts;
pub mod invites;
pub mod sessions;
pub mod settings;
pub mod two_factor;
pub mod users;

use anyhow::Context;
use sqlx::{
    any::AnyPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    AnyPool, ConnectOptions, Connection, Executor,
};
use std::str::FromStr;

/// Which database a `Db` talks to. The SQL is written once for both (numbered `$n`
/// parameters, standard types); the schema is created by one migration set per kind, with
/// the same versions and the same tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An embedded file, created if missing: nothing to start or run.
    Sqlite,
    /// A PostgreSQL server, which several instances share.
    Postgres,
}

impl Kind {
    /// The kind a database URL names, or an error for any other scheme.
    pub fn of(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            anyhow::bail!(
                "unsupported database URL {:?}: use sqlite://PATH or postgres://…",
                redacted(url)
            )
        }
    }
}

/// The database handle shared by every part of the server and the CLI.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    kind: Kind,
    /// Session rows this process deleted (their id hashes), so that their live sockets
    /// close at once instead of at the next poll.
    ended_sessions: tokio::sync::broadcast::Sender<String>,
    /// When this process last set each token's `last_used_at` (or tried to): at most one
    /// such write per token a minute, so a busy database never piles them up.
    pub(crate) token_uses: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<i64, i64>>>,
}

impl Db {
    /// Opens the database at `url` (`sqlite://PATH`, created if missing, or
    /// `postgres://…`) and applies pending migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let kind = Kind::of(url)?;
        let pool_url = match kind {
            Kind::Sqlite => prepare_sqlite(url).await?,
            Kind::Postgres => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(match kind {
                Kind::Sqlite => 8,
                Kind::Postgres => 16,
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if kind == Kind::Sqlite {
                        // Per connection; WAL and the page size live in the file.
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&pool_url)
            .await
            .with_context(|| format!("cannot open database {}", redacted(url)))?;
        let migrations = match kind {
            Kind::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Kind::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrations
            .run(&pool)
            .await
            .context("cannot apply database migrations")?;
        let (ended_sessions, _) = tokio::sync::broadcast::channel(1024);
        Ok(Self {
            pool,
            kind,
            ended_sessions,
            token_uses: Default::default(),
        })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The id hashes of sessions this process ends, as it ends them. (Sessions ended by
    /// another process are found by polling.)
    pub fn ended_sessions(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.ended_sessions.subscribe()
    }

    fn session_ended(&self, id_hash: String) {
        // Nobody listening (the CLI) is fine.
        let _ = self.ended_sessions.send(id_hash);
    }
}

/// Creates the SQLite file if missing, with the settings that belong to the file (a page
/// size chosen for history blocks, write-ahead logging), and returns the URL the pool opens.
async fn prepare_sqlite(url: &str) -> anyhow::Result<String> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("invalid database URL {url:?}"))?
        .create_if_missing(true)
        // For a new database: history blocks of a few hundred bytes fill 16 KiB pages
        // with less waste at each page's end (about 7 % fewer bytes than 4 KiB pages).
        .page_size(16_384)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    options
        .connect()
        .await
        .with_context(|| format!("cannot open database {url:?}"))?
        .close()
        .await?;
    Ok(url.to_owned())
}

/// A database URL with its password, if any, replaced: fit for an error or a log line.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// `$first, $first+1, …`: `n` numbered parameters for an `IN (…)` list.
pub fn params(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `($1,$2),($3,$4),…`: the VALUES of a multi-row INSERT of `rows` rows of `cols` columns.
pub fn values_rows(rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        sql.push_str(&params(row * cols + 1, cols));
        sql.push(')');
    }
    sql
}

/// Seconds since the Unix epoch, the unit of every timestamp column.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds since the Unix epoch, the unit of sample timestamps.
pub fn unix_now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// Now, rounded to the nearest multiple of `every` (milliseconds since the epoch). Samples
/// taken on a schedule are stamped with the tick they belong to, not the moment the clock
/// was read: their timestamps are then exactly `every` apart, and a stored timestamp
/// costs one bit instead of the jitter's ten or so.
pub fn tick_ms(every: std::time::Duration) -> i64 {
    round_to(unix_now_ms(), every)
}

fn round_to(ms: i64, every: std::time::Duration) -> i64 {
    let step = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
    ms.saturating_add(step / 2)
        .div_euclid(step)
        .saturating_mul(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn database_urls_name_their_kind_and_never_show_a_password() {
        assert_eq!(Kind::of("sqlite://lookout.db").unwrap(), Kind::Sqlite);
        assert_eq!(Kind::of("postgres://u:p@db/x").unwrap(), Kind::Postgres);
        assert_eq!(Kind::of("postgresql://db/x").unwrap(), Kind::Postgres);
        let refused = Kind::of("mysql://root:hunter2@db/x")
            .unwrap_err()
            .to_string();
        assert!(refused.contains("mysql://root:***@db/x"), "{refused}");
        assert!(!refused.contains("hunter2"));
        assert_eq!(redacted("postgres://db/x"), "postgres://db/x");
    }

    #[test]
    fn multi_row_values_number_their_parameters_in_order() {
        assert_eq!(params(3, 2), "$3,$4");
        assert_eq!(values_rows(2, 3), "($1,$2,$3),($4,$5,$6)");
    }

    #[test]
    fn ticks_round_to_the_nearest_multiple_of_the_interval() {
        let second = Duration::from_secs(1);
        assert_eq!(round_to(1_764_500_000_499, second), 1_764_500_000_000);
        assert_eq!(round_to(1_764_500_000_500, second), 1_764_500_001_000);
        assert_eq!(round_to(1_764_500_000_997, second), 1_764_500_001_000);
        assert_eq!(round_to(1_234, Duration::from_millis(250)), 1_250);
        assert_eq!(round_to(1_234, Duration::ZERO), 1_234);
        assert!(tick_ms(second) % 1_000 == 0);
    }
}
