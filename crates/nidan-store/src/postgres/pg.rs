//! The store's operations on PostgreSQL: [`Conn`] over a sqlx connection, and how each kind of
//! operation runs: reads and single statements on a pooled connection (autocommit), writes in a
//! READ COMMITTED transaction retried on serialization failures and deadlocks.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, PgPool, Postgres, Row as _};

use super::{RETRIES, pause};
use crate::db::{
    Answer, Arg, Args, Backend, Body, BoxFuture, Col, Conn, DbError, DbRow, Decode, Fut, Out, Run,
    Step, Stmt,
};

/// A connection (in a transaction or not), as an operation sees it.
pub(crate) struct PgConn<'c>(pub(crate) &'c mut PgConnection);

fn bind<'q>(sql: &'static str, args: &[Arg<'q>]) -> Query<'q, Postgres, PgArguments> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = match *a {
            Arg::Int(v) => q.bind(v),
            Arg::OptInt(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
            Arg::OptText(v) => q.bind(v),
            Arg::Blob(v) => q.bind(v),
            Arg::OptBlob(v) => q.bind(v),
            Arg::Bool(v) => q.bind(v),
        };
    }
    q
}

fn get<'r, T>(r: &'r PgRow, col: Col<'_>) -> Result<T, DbError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    Ok(match col {
        Col::Name(name) => r.try_get(name)?,
        Col::At(at) => r.try_get(at)?,
    })
}

impl DbRow for PgRow {
    fn int(&self, col: Col<'_>) -> Result<Option<i64>, DbError> {
        // Literals and `INT` columns are 32-bit in PostgreSQL; counts and times are 64-bit.
        get::<Option<i64>>(self, col).or_else(|_| Ok(get::<Option<i32>>(self, col)?.map(i64::from)))
    }
    fn text(&self, col: Col<'_>) -> Result<Option<String>, DbError> {
        get(self, col)
    }
    fn blob(&self, col: Col<'_>) -> Result<Option<Vec<u8>>, DbError> {
        get(self, col)
    }
    fn flag(&self, col: Col<'_>) -> Result<bool, DbError> {
        get(self, col)
    }
}

impl Conn for PgConn<'_> {
    fn execute<'a>(&'a mut self, s: Stmt<'a>) -> Fut<'a, u64> {
        let query = bind(s.sql.pg, s.args);
        Box::pin(async move { Ok(query.execute(&mut *self.0).await?.rows_affected()) })
    }

    fn query<'a, T: Answer>(&'a mut self, s: Stmt<'a>, d: Decode<'a, T>) -> Fut<'a, Vec<T>> {
        let query = bind(s.sql.pg, s.args);
        Box::pin(async move {
            let found = query.fetch_all(&mut *self.0).await?;
            found.iter().map(|r| d(r)).collect()
        })
    }

    /// The account's row lock (see the module docs of `postgres`).
    fn lock_user<'a>(&'a mut self, user: &'a str) -> Fut<'a, ()> {
        let query = sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE").bind(user);
        Box::pin(async move {
            query.fetch_optional(&mut *self.0).await?;
            Ok(())
        })
    }

    /// A transaction-scoped advisory lock.
    fn lock_key<'a>(&'a mut self, key: &'a str) -> Fut<'a, ()> {
        let query = sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))").bind(key);
        Box::pin(async move {
            query.execute(&mut *self.0).await?;
            Ok(())
        })
    }
}

/// Operations on one PostgreSQL database.
#[derive(Clone, Debug)]
pub(crate) struct Pg {
    pub(crate) pool: PgPool,
}

/// The connection pool's use, read at each scrape.
#[derive(Debug)]
struct PoolUse(PgPool);

impl prometheus_client::collector::Collector for PoolUse {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::gauge::ConstGauge;
        let open = i64::from(self.0.size());
        let idle = i64::try_from(self.0.num_idle()).unwrap_or(i64::MAX);
        let max = i64::from(self.0.options().get_max_connections());
        #[rustfmt::skip]
        let series = [
            ("nidan_postgres_pool_connections", "PostgreSQL connections open in the pool", open),
            ("nidan_postgres_pool_idle_connections", "PostgreSQL connections open and idle", idle),
            ("nidan_postgres_pool_max_connections", "The pool's limit (database.max_connections)", max),
        ];
        for (name, help, value) in series {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// A serialization failure or a deadlock.
fn retryable(e: &DbError) -> bool {
    matches!(e, DbError::Pg(sqlx::Error::Database(db))
        if matches!(db.code().as_deref(), Some("40001" | "40P01")))
}

impl Backend for Pg {
    type Conn<'c> = PgConn<'c>;
    type Body<'a, T: 'a> = BoxFuture<'a, Result<Step<T>, DbError>>;

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register_collector(Box::new(PoolUse(self.pool.clone())));
    }

    async fn run<A: Args, T: Answer>(&self, how: Run, args: A, body: Body<Self, A, T>) -> Out<T> {
        let mut tries = 0u32;
        loop {
            let attempt = async {
                if matches!(how, Run::Read | Run::CheckRead | Run::Single) {
                    // Each statement is its own transaction.
                    let mut conn = self.pool.acquire().await?;
                    return Ok(body(&mut PgConn(&mut conn), &args).await?.value());
                }
                let mut tx = self.pool.begin().await?;
                match body(&mut PgConn(&mut tx), &args).await? {
                    Step::Commit(v) => {
                        tx.commit().await?;
                        Ok(v)
                    }
                    // Dropping the transaction rolls it back.
                    Step::Rollback(v) => Ok(v),
                }
            };
            match attempt.await {
                Ok(v) => return Ok(v),
                // A serialization failure or a deadlock: the transaction was rolled back and
                // may simply run again, after a short growing pause.
                Err(e) if retryable(&e) && tries < RETRIES => {
                    tries += 1;
                    tracing::debug!(tries, "PostgreSQL transaction conflict; retrying");
                    pause(tries).await;
                }
                Err(e) => return Err(e.into_store()),
            }
        }
    }
}
