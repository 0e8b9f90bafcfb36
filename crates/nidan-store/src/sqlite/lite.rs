//! The store's operations on SQLite: [`Conn`] over a rusqlite connection, and how each kind of
//! operation runs on the engine (reads on the caller's thread, writes as jobs of the writer).
//!
//! rusqlite never suspends, so an operation's future is ready as soon as it is polled: it is
//! driven to completion inside the engine's synchronous job ([`drive`]), never sent anywhere.

use std::future::ready;
use std::sync::Arc;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, ToSql, params_from_iter};

use super::engine::{Engine, Link, bad_data};
use crate::db::{
    Answer, Arg, Args, Backend, Body, Col, Conn, DbError, DbRow, Decode, Fut, LocalBoxFuture, Out,
    Params, Run, Sql, Step, Stmt, drive,
};

/// A connection of the engine, as an operation sees it.
pub(crate) struct LiteConn<'c>(pub(crate) Link<'c>);

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Arg::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Arg::OptInt(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Arg::Text(v) | Arg::OptText(Some(v)) => {
                ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes()))
            }
            Arg::Blob(v) | Arg::OptBlob(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Arg::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(v))),
            Arg::OptInt(None) | Arg::OptText(None) | Arg::OptBlob(None) => {
                ToSqlOutput::Borrowed(ValueRef::Null)
            }
        })
    }
}

fn get<T: rusqlite::types::FromSql>(r: &rusqlite::Row<'_>, col: Col<'_>) -> rusqlite::Result<T> {
    match col {
        Col::Name(name) => r.get(name),
        Col::At(at) => r.get(at),
    }
}

impl DbRow for rusqlite::Row<'_> {
    fn int(&self, col: Col<'_>) -> Result<Option<i64>, DbError> {
        Ok(get(self, col)?)
    }
    fn text(&self, col: Col<'_>) -> Result<Option<String>, DbError> {
        Ok(get(self, col)?)
    }
    fn blob(&self, col: Col<'_>) -> Result<Option<Vec<u8>>, DbError> {
        Ok(get(self, col)?)
    }
    fn flag(&self, col: Col<'_>) -> Result<bool, DbError> {
        Ok(get::<i64>(self, col)? != 0)
    }
}

/// The decoding error inside rusqlite's row callback, carried out again as it was.
fn decoded<T>(result: Result<T, DbError>) -> rusqlite::Result<T> {
    result.map_err(into_rusqlite)
}

/// A [`DbError`] as rusqlite's error, for the engine's jobs.
pub(crate) fn into_rusqlite(e: DbError) -> rusqlite::Error {
    match e {
        DbError::Lite(e) => e,
        DbError::Data(m) => bad_data(m),
        DbError::Pg(e) => bad_data(e.to_string()),
        DbError::Store(e) => bad_data(e.to_string()),
    }
}

impl Conn for LiteConn<'_> {
    fn execute<'a>(&'a mut self, s: Stmt<'a>) -> Fut<'a, u64> {
        let done = self.0.statement(s.sql.lite, |statement| {
            statement.execute(params_from_iter(s.args))
        });
        Box::pin(ready(done.map(|n| n as u64).map_err(DbError::from)))
    }

    fn query<'a, T: Answer>(&'a mut self, s: Stmt<'a>, d: Decode<'a, T>) -> Fut<'a, Vec<T>> {
        let found = self.0.statement(s.sql.lite, |statement| {
            statement
                .query_map(params_from_iter(s.args), |r| decoded(d(r)))?
                .collect()
        });
        Box::pin(ready(found.map_err(DbError::from)))
    }

    /// One row read as it comes (no list of one), the common case of the hot path.
    fn row<'a, T: Answer>(
        &'a mut self,
        sql: Sql,
        args: Params<'a>,
        d: Decode<'a, T>,
    ) -> Fut<'a, Option<T>> {
        let found = self.0.statement(sql.lite, |statement| {
            statement
                .query_row(params_from_iter(args), |r| decoded(d(r)))
                .optional()
        });
        Box::pin(ready(found.map_err(DbError::from)))
    }
}

/// Operations on one SQLite database.
#[derive(Clone, Debug)]
pub(crate) struct Lite {
    pub(crate) engine: Arc<Engine>,
}

/// Runs `body` on `c` to completion, as rusqlite's error.
fn run<A, T: Answer>(c: Link<'_>, args: &A, body: &Body<Lite, A, T>) -> rusqlite::Result<Step<T>> {
    let mut conn = LiteConn(c);
    drive(body(&mut conn, args)).map_err(into_rusqlite)
}

impl Backend for Lite {
    type Conn<'c> = LiteConn<'c>;
    type Body<'a, T: 'a> = LocalBoxFuture<'a, Result<Step<T>, DbError>>;

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.engine.register_metrics(registry);
    }

    async fn run<A: Args, T: Answer>(&self, how: Run, args: A, body: Body<Self, A, T>) -> Out<T> {
        match how {
            Run::Read => self.engine.read(|c| run(c, &args, &body)).map(Step::value),
            Run::CheckRead => self
                .engine
                .read_on_writer(move |c| run(c, &args, &body))
                .await
                .map(Step::value),
            Run::Write | Run::Single => self.engine.write_step(move |c| run(c, &args, &body)).await,
            Run::WriteWhole => {
                self.engine
                    .write_step_whole(move |c| run(c, &args, &body))
                    .await
            }
        }
    }
}
