//! What every store operation is written against: one connection inside one transaction.
//!
//! Each operation of the `Store` port is written once (in `ops/`), as an `async fn` generic over
//! [`Conn`]: run a statement, read one row or all rows, take the account's lock. SQLite and
//! PostgreSQL each implement [`Conn`] in a few lines, and [`Backend`] says how an operation runs
//! there:
//!
//! - SQLite (`sqlite/lite.rs`): rusqlite never suspends, so an operation's future is polled to
//!   completion at once ([`drive`]) inside a job of the single writer thread, or on the calling
//!   thread for reads. Its writer is alone, so the locks are nothing.
//! - PostgreSQL (`postgres/pg.rs`): the same future runs in a transaction that is retried on
//!   serialization failures and deadlocks; the account lock is a row lock
//!   (`SELECT … FOR NO KEY UPDATE`), the other locks transaction-scoped advisory locks.
//!
//! Why a trait and not a query builder or an ORM: the SQL is the same text for both (see
//! [`crate::sql!`]), the bodies are short, and what differs between the backends is how a
//! transaction runs, not what it says.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use nidan_domain::{Method, SecondStep};
use nidan_service::courier::{Channel, Locale};
use nidan_service::ports::{ImportRow, QueuedNotice};
use nidan_service::{ApiKeyId, CredentialId, DeviceId, SessionId, StoreError, UserId};

/// A future that may move between threads.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A future that stays on the thread that made it.
pub(crate) type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A statement's text for each backend, made by [`crate::sql!`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sql {
    /// With `$N` placeholders.
    pub pg: &'static str,
    /// With `?N` placeholders.
    pub lite: &'static str,
}

/// `sql` with every `$` turned into `?`, as bytes (`N` is `sql.len()`).
pub(crate) const fn sqlite_form<const N: usize>(sql: &str) -> [u8; N] {
    let bytes = sql.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = if bytes[i] == b'$' { b'?' } else { bytes[i] };
        i += 1;
    }
    out
}

/// A statement written once for both backends: `sql!("… $1 …")` is a [`Sql`] whose SQLite form
/// has `?N` for each `$N`, made at compile time (the same length, so a `const` can do it).
/// SQLite reads `?N` as the N-th parameter, exactly what `$N` means to PostgreSQL; rusqlite
/// would number `$N` by first appearance instead. Statements written this way contain no other
/// `$` (no dollar quoting, no `$` in string literals).
#[macro_export]
#[doc(hidden)]
macro_rules! sql {
    ($text:expr) => {{
        const PG: &str = $text;
        const BYTES: [u8; PG.len()] = $crate::db::sqlite_form::<{ PG.len() }>(PG);
        const SQL: $crate::db::Sql = $crate::db::Sql {
            pg: PG,
            lite: match core::str::from_utf8(&BYTES) {
                Ok(text) => text,
                Err(_) => panic!("SQL text is not UTF-8"),
            },
        };
        SQL
    }};
}

/// A read that locks what it reads until the transaction ends: on PostgreSQL the statement
/// gets `FOR NO KEY UPDATE` (it serialises the account's writers but does not block inserts that
/// merely reference the row, such as sessions and challenges); on SQLite, whose writer is
/// alone, it is the statement as written.
#[macro_export]
#[doc(hidden)]
macro_rules! sql_locking {
    ($text:literal) => {{
        const SQL: $crate::db::Sql = $crate::db::Sql {
            pg: concat!($text, " FOR NO KEY UPDATE"),
            lite: $crate::sql!($text).lite,
        };
        SQL
    }};
}

/// Writes the operations that are one statement each, as a table:
/// `name(param: Type, …) -> Answer =` then how it runs and its statement (a literal, or a
/// [`Sql`] in braces), then its arguments. `done` keeps its changes and answers nothing; `count`
/// answers how many rows changed; `one` whether exactly one did; `row(decode)` answers the first
/// row, if any; `rows(decode)` every row. Each becomes
/// `async fn name<C: Conn>(c: &mut C, …) -> Result<Answer, DbError>`, like the operations
/// written out by hand.
#[macro_export]
#[doc(hidden)]
macro_rules! statements {
    ($(
        $(#[$doc:meta])*
        $name:ident($($p:ident: $t:ty),* $(,)?) -> $ret:ty =
            $how:ident $(($decode:expr))? $($sql:literal)? $({ $made:expr })?
            [$($arg:expr),* $(,)?];
    )*) => {$(
        $(#[$doc])*
        pub(crate) async fn $name<C: $crate::db::Conn>(
            c: &mut C
            $(, $p: $t)*
        ) -> Result<$ret, $crate::db::DbError> {
            $crate::statements!(@run c, $($crate::sql!($sql))? $($made)?,
                $crate::args![$($arg),*], $how $(($decode))?)
        }
    )*};
    (@run $c:ident, $sql:expr, $args:expr, done) => { $c.exec($sql, $args).await.map(drop) };
    (@run $c:ident, $sql:expr, $args:expr, count) => { $c.exec($sql, $args).await };
    (@run $c:ident, $sql:expr, $args:expr, one) => { $c.exec($sql, $args).await.map(|n| n == 1) };
    (@run $c:ident, $sql:expr, $args:expr, row($d:expr)) => { $c.row($sql, $args, &$d).await };
    (@run $c:ident, $sql:expr, $args:expr, rows($d:expr)) => { $c.rows($sql, $args, &$d).await };
}

/// A bound parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Text(&'a str),
    OptText(Option<&'a str>),
    Blob(&'a [u8]),
    OptBlob(Option<&'a [u8]>),
    Bool(bool),
}

/// `From` for [`Arg`]: each type a parameter comes as, and how it binds.
macro_rules! arg_from {
    ($($t:ty => |$v:ident| $arg:expr;)*) => {
        $(impl<'a> From<$t> for Arg<'a> {
            fn from($v: $t) -> Self {
                $arg
            }
        })*
    };
}

arg_from! {
    i64 => |v| Arg::Int(v);
    Option<i64> => |v| Arg::OptInt(v);
    &'a str => |v| Arg::Text(v);
    &'a String => |v| Arg::Text(v);
    Option<&'a str> => |v| Arg::OptText(v);
    &'a Option<String> => |v| Arg::OptText(v.as_deref());
    &'a [u8] => |v| Arg::Blob(v);
    &'a Vec<u8> => |v| Arg::Blob(v);
    &'a [u8; 32] => |v| Arg::Blob(v);
    Option<&'a [u8; 32]> => |v| Arg::OptBlob(v.map(|d| &d[..]));
    bool => |v| Arg::Bool(v);
}

/// The parameters of a statement: `args![user.as_str(), now]`.
#[macro_export]
#[doc(hidden)]
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        (&[$($crate::db::Arg::from($arg)),*] as &[$crate::db::Arg<'_>])
    };
}

/// A column of a row being decoded: by name, or by position where a statement's column order
/// is fixed and the row is decoded on a hot path.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Col<'a> {
    Name(&'a str),
    At(usize),
}

impl<'a> From<&'a str> for Col<'a> {
    fn from(name: &'a str) -> Self {
        Col::Name(name)
    }
}
impl From<usize> for Col<'_> {
    fn from(at: usize) -> Self {
        Col::At(at)
    }
}

/// A row as each backend hands it over. Times and counts are 64-bit integers on both;
/// booleans are `BOOLEAN` on PostgreSQL and 0/1 on SQLite.
pub(crate) trait DbRow {
    fn int(&self, col: Col<'_>) -> Result<Option<i64>, DbError>;
    fn text(&self, col: Col<'_>) -> Result<Option<String>, DbError>;
    fn blob(&self, col: Col<'_>) -> Result<Option<Vec<u8>>, DbError>;
    fn flag(&self, col: Col<'_>) -> Result<bool, DbError>;
}

/// A value a column decodes into.
pub(crate) trait FromCol: Sized {
    fn from_col(row: &dyn DbRow, col: Col<'_>) -> Result<Self, DbError>;
}

fn present<T>(value: Option<T>, col: Col<'_>) -> Result<T, DbError> {
    value.ok_or_else(|| DbError::Data(format!("column {col:?} is NULL")))
}

/// `FromCol` for each type a column decodes into.
macro_rules! from_col {
    ($($t:ty => |$r:ident, $c:ident| $value:expr;)*) => {
        $(impl FromCol for $t {
            fn from_col($r: &dyn DbRow, $c: Col<'_>) -> Result<Self, DbError> {
                $value
            }
        })*
    };
}

from_col! {
    i64 => |r, c| present(r.int(c)?, c);
    Option<i64> => |r, c| r.int(c);
    // A count: clamped into `u32`.
    u32 => |r, c| Ok(i64::from_col(r, c)?.clamp(0, i64::from(u32::MAX)) as u32);
    String => |r, c| present(r.text(c)?, c);
    Option<String> => |r, c| r.text(c);
    Vec<u8> => |r, c| present(r.blob(c)?, c);
    [u8; 32] => |r, c| Vec::<u8>::from_col(r, c)?
        .try_into()
        .map_err(|_| DbError::Data("a stored digest is not 32 bytes".into()));
    Option<[u8; 32]> => |r, c| match r.blob(c)? {
        None => Ok(None),
        Some(v) => v
            .try_into()
            .map(Some)
            .map_err(|_| DbError::Data("a stored digest is not 32 bytes".into())),
    };
    nidan_service::ports::TokenKind => |r, c| match String::from_col(r, c)?.as_str() {
        "access" => Ok(nidan_service::ports::TokenKind::Access),
        "refresh" => Ok(nidan_service::ports::TokenKind::Refresh),
        other => Err(DbError::Data(format!("unknown token kind `{other}` in the database"))),
    };
    bool => |r, c| r.flag(c);
    UserId => |r, c| String::from_col(r, c).map(UserId::new);
    Option<UserId> => |r, c| Ok(r.text(c)?.map(UserId::new));
    CredentialId => |r, c| String::from_col(r, c).map(CredentialId::new);
    SessionId => |r, c| String::from_col(r, c).map(SessionId::new);
    DeviceId => |r, c| String::from_col(r, c).map(DeviceId::new);
    ApiKeyId => |r, c| String::from_col(r, c).map(ApiKeyId::new);
    // An unknown method reads as none.
    Option<Method> => |r, c| Ok(r.text(c)?.and_then(|t| t.parse().ok()));
    // An unknown proof reads as none: the session counts as made with the password alone.
    Option<SecondStep> => |r, c| Ok(r.text(c)?.and_then(|t| t.parse().ok()));
    // An unknown language reads as the default one.
    Locale => |r, c| Ok(Locale::parse(&String::from_col(r, c)?).unwrap_or_default());
    Channel => |r, c| match String::from_col(r, c)?.as_str() {
        "email" => Ok(Channel::Email),
        "sms" => Ok(Channel::Sms),
        other => Err(DbError::Data(format!("unknown channel `{other}` in the database"))),
    };
}

impl dyn DbRow + '_ {
    /// Column `col` as a `T`.
    pub(crate) fn get<'c, T: FromCol>(&self, col: impl Into<Col<'c>>) -> Result<T, DbError> {
        T::from_col(self, col.into())
    }
}

/// What a statement or a decoding failed with.
#[derive(Debug)]
pub(crate) enum DbError {
    Lite(rusqlite::Error),
    Pg(sqlx::Error),
    /// Data in the database that does not decode.
    Data(String),
    /// A decision that is not a database error (e.g. a conflict found by a read).
    Store(StoreError),
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Lite(e)
    }
}
impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        DbError::Pg(e)
    }
}
impl From<StoreError> for DbError {
    fn from(e: StoreError) -> Self {
        DbError::Store(e)
    }
}

impl DbError {
    /// As the service sees it: uniqueness violations are conflicts, an unreachable or busy
    /// database is "unavailable", the rest an internal error.
    pub(crate) fn into_store(self) -> StoreError {
        match self {
            DbError::Lite(e) => crate::sqlite::map(e),
            DbError::Pg(e) => crate::postgres::map(e),
            DbError::Data(m) => StoreError::Other(m),
            DbError::Store(e) => e,
        }
    }
}

/// What a write wants done with its changes.
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// Keep them.
    Commit(T),
    /// Undo them (the answer is still `T`: e.g. "raced, nothing changed").
    Rollback(T),
}

impl<T> Step<T> {
    /// The answer, kept or undone.
    pub(crate) fn value(self) -> T {
        match self {
            Step::Commit(v) | Step::Rollback(v) => v,
        }
    }
}

/// What a statement answers, later.
pub(crate) type Fut<'a, T> = BoxFuture<'a, Result<T, DbError>>;

/// A statement's parameters.
pub(crate) type Params<'a> = &'a [Arg<'a>];

/// A statement with its parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stmt<'a> {
    pub sql: Sql,
    pub args: Params<'a>,
}

/// Turns a row into a value.
pub(crate) type Decode<'a, T> = &'a (dyn Fn(&dyn DbRow) -> Result<T, DbError> + Sync);

/// One connection inside one transaction (or, for single statements, one autocommit
/// connection). Each statement's future is boxed so that the two implementations say the same
/// thing the same short way; on SQLite the box holds an answer that is already there.
pub(crate) trait Conn {
    /// Runs a statement; answers the rows it changed.
    fn execute<'a>(&'a mut self, s: Stmt<'a>) -> Fut<'a, u64>;

    /// Every row of a query, decoded.
    fn query<'a, T: Answer>(&'a mut self, s: Stmt<'a>, d: Decode<'a, T>) -> Fut<'a, Vec<T>>;

    /// Holds the account's row until the transaction ends, so that writers of one account
    /// queue up behind each other (PostgreSQL, several nodes). Nothing on SQLite, whose one
    /// writer runs one job at a time.
    fn lock_user<'a>(&'a mut self, _user: &'a str) -> Fut<'a, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Holds a lock named `key` until the transaction ends, for limits that span accounts
    /// (PostgreSQL's transaction-scoped advisory lock; nothing on SQLite).
    fn lock_key<'a>(&'a mut self, _key: &'a str) -> Fut<'a, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// [`Conn::execute`] of `sql` with `args`.
    fn exec<'a>(&'a mut self, sql: Sql, args: Params<'a>) -> Fut<'a, u64> {
        self.execute(Stmt { sql, args })
    }

    /// [`Conn::query`] of `sql` with `args`.
    fn rows<'a, T: Answer>(
        &'a mut self,
        sql: Sql,
        args: Params<'a>,
        d: Decode<'a, T>,
    ) -> Fut<'a, Vec<T>> {
        self.query(Stmt { sql, args }, d)
    }

    /// The first row of a query, decoded, if there is one (the statements asked this way
    /// find one row at most: a key, `LIMIT 1`, or an `UPDATE … RETURNING` of one row).
    fn row<'a, T: Answer>(
        &'a mut self,
        sql: Sql,
        args: Params<'a>,
        d: Decode<'a, T>,
    ) -> Fut<'a, Option<T>> {
        let all = self.query(Stmt { sql, args }, d);
        Box::pin(async move { Ok(all.await?.into_iter().next()) })
    }
}

/// How an operation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Run {
    /// A read (SQLite: on the calling thread; PostgreSQL: a pooled connection).
    Read,
    /// The read of a code check, which its settling write follows at once (SQLite: on the
    /// writer, whose page cache is warm; see `Engine::read_on_writer`).
    CheckRead,
    /// A write in a transaction of its own (SQLite: a savepoint in the writer's batch) that
    /// keeps or undoes its changes as the body says.
    Write,
    /// [`Run::Write`] for a body that decides every rollback before its first write (SQLite: no
    /// savepoint of its own; settling a code check, the hottest write).
    WriteWhole,
    /// One statement that needs no transaction around it (PostgreSQL: autocommit, no
    /// `BEGIN`/`COMMIT` round trips).
    Single,
}

/// An operation's body: given a connection and the operation's arguments, a future of its
/// answer. Called once on SQLite, and again on PostgreSQL when a transaction must be retried.
pub(crate) type Body<B, A, T> = Box<
    dyn for<'c, 'a> Fn(&'a mut <B as Backend>::Conn<'c>, &'a A) -> <B as Backend>::Body<'a, T>
        + Send
        + Sync,
>;

/// What an operation takes along: it moves to SQLite's writer thread, and a PostgreSQL retry
/// reads it again.
pub(crate) trait Args: Send + Sync + 'static {}
impl<A: Send + Sync + 'static> Args for A {}

/// An operation's outcome as the service sees it.
pub(crate) type Out<T> = Result<T, StoreError>;

/// What an operation answers.
pub(crate) trait Answer: Send + 'static {}
impl<T: Send + 'static> Answer for T {}

/// How operations run on one backend; the `Store` is written once over it (`store.rs`).
pub(crate) trait Backend: Sized + Send + Sync + 'static {
    /// The connection operations see.
    type Conn<'c>: Conn;

    /// The future of an operation's body: PostgreSQL's moves between threads with the request;
    /// SQLite's is driven to completion where it is made (on the writer, whose statements its
    /// connection holds and which never leave that thread).
    type Body<'a, T: 'a>: Future<Output = Result<Step<T>, DbError>> + 'a;

    /// Runs `body` with `args` as `how` says.
    fn run<A: Args, T: Answer>(
        &self,
        how: Run,
        args: A,
        body: Body<Self, A, T>,
    ) -> impl Future<Output = Result<T, StoreError>> + Send;

    /// Adds the backend's own series to `registry`.
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry);
}

/// The operations each backend does its own way: bulk import (per-row statements on SQLite's
/// writer, whole columns as arrays on PostgreSQL) and claiming due notices (several PostgreSQL
/// nodes lease what they take with `FOR UPDATE SKIP LOCKED`).
pub(crate) trait Native: Send + Sync {
    /// Ids of existing accounts among these emails.
    fn user_ids_by_email(
        &self,
        emails: &[String],
    ) -> impl Future<Output = Result<Vec<(String, UserId)>, StoreError>> + Send;

    /// Writes an import of seeds in one transaction: all rows or none.
    fn import_totp(
        &self,
        rows: Vec<ImportRow>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Notices due at `now`, oldest first, taken for this node.
    fn due_notices(
        &self,
        now: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<QueuedNotice>, StoreError>> + Send;
}

/// Polls `future` once and expects it done: for the SQLite connection, whose every future is
/// ready at once (rusqlite never suspends). A pending future is a bug, reported as an error.
pub(crate) fn drive<T>(future: impl Future<Output = Result<T, DbError>>) -> Result<T, DbError> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).as_mut().poll(&mut cx) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(DbError::Data(
            "a SQLite operation suspended, which it never should".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_question_marks() {
        const EXAMPLE: Sql = crate::sql!("SELECT a FROM t WHERE b = $1 AND c > $2 OR d = $1");
        assert_eq!(
            EXAMPLE.lite,
            "SELECT a FROM t WHERE b = ?1 AND c > ?2 OR d = ?1"
        );
        assert_eq!(
            EXAMPLE.pg,
            "SELECT a FROM t WHERE b = $1 AND c > $2 OR d = $1"
        );
    }

    #[test]
    fn a_pending_future_is_an_error_not_a_hang() {
        let never = std::future::pending::<Result<(), DbError>>();
        assert!(matches!(drive(never), Err(DbError::Data(_))));
    }
}
