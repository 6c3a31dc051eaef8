//! One way of speaking SQL to either store the journal lives in: SQLite (the embedded
//! default) or PostgreSQL (`[state] url`, for several servers on one database). Every
//! query of the journal is written once, in the subset both understand (`?1`-style
//! placeholders, `ON CONFLICT`, no SQLite-only functions), and answers the same on
//! both; the tests run one body against each.
//!
//! Written here rather than taken from a crate: the crates that span both (sqlx,
//! diesel) bring an async runtime model or a query builder the journal's few dozen
//! plain queries do not need, and none keeps rusqlite's synchronous, in-process
//! SQLite that every CLI command opens in a millisecond.

pub mod postgres;
pub mod sqlite;

use std::fmt;

/// A value passed to or read from a query: the journal keeps only integers and
/// texts (times are RFC 3339 texts, lists are JSON texts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
/// A borrowed value of any kind above (`&String`, `&u32`, `&Option<String>`...).
impl<T: Clone + Into<Value>> From<&T> for Value {
    fn from(v: &T) -> Self {
        v.clone().into()
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// The parameters of a query, each turned into a [`Value`].
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::journal::db::Value::from(&$v)),*][..]
    };
}
pub(crate) use params;

/// Run `f`, which blocks on I/O, off the async workers' backs: a write may wait for
/// another process, and the PostgreSQL client runs a runtime of its own, which may not
/// be entered from an async worker.
pub fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        // A single-threaded runtime has no worker to hand over: a thread of its own.
        Ok(_) => std::thread::scope(|s| {
            s.spawn(f)
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        }),
        Err(_) => f(),
    }
}

/// An error of either store, or of the journal's own (a value of the wrong kind).
#[derive(Debug)]
pub enum DbError {
    Sqlite(rusqlite::Error),
    Postgres(::postgres::Error),
    /// The journal's own words: a refusal (a newer schema), a value it cannot read.
    Refused(String),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "{e}"),
            DbError::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "{}: {}", db.severity(), db.message()),
                // The client's own errors say what went wrong in their source.
                None => {
                    write!(f, "{e}")?;
                    let mut cause = std::error::Error::source(e);
                    while let Some(c) = cause {
                        write!(f, ": {c}")?;
                        cause = c.source();
                    }
                    Ok(())
                }
            },
            DbError::Refused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sqlite(e)
    }
}
impl From<::postgres::Error> for DbError {
    fn from(e: ::postgres::Error) -> Self {
        DbError::Postgres(e)
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// One row of an answer, its values in the order of the query's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// The value of column `i` as a `T`; a value of another kind is an error that
    /// names the column, never a panic.
    pub fn get<T: FromValue>(&self, i: usize) -> DbResult<T> {
        let value = self.0.get(i).unwrap_or(&Value::Null);
        T::from_value(value).ok_or_else(|| {
            DbError::Refused(format!(
                "column {i} holds {value:?}, not {}",
                std::any::type_name::<T>()
            ))
        })
    }
}

/// What a [`Value`] can be read as.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }
}
impl FromValue for u64 {
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).map(|n| u64::try_from(n).unwrap_or(0))
    }
}
impl FromValue for u32 {
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).and_then(|n| u32::try_from(n).ok())
    }
}
impl FromValue for bool {
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).map(|n| n != 0)
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// A connection (or a transaction on one) of either store.
pub trait Sql {
    /// Run a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<usize>;
    /// Run a query, handing each row to `each` as it arrives: an export of a million
    /// runs holds one at a time.
    fn each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(Row) -> DbResult<()>,
    ) -> DbResult<()>;

    /// All the rows of a query (for answers the query's `LIMIT` keeps small).
    fn rows(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        let mut rows = Vec::new();
        self.each(sql, params, &mut |row| {
            rows.push(row);
            Ok(())
        })?;
        Ok(rows)
    }

    /// The first row of a query, if any.
    fn row(&mut self, sql: &str, params: &[Value]) -> DbResult<Option<Row>> {
        let mut first = None;
        self.each(sql, params, &mut |row| {
            if first.is_none() {
                first = Some(row);
            }
            Ok(())
        })?;
        Ok(first)
    }
}

/// `sql` with SQLite's `?N` and `?` placeholders written as PostgreSQL's `$N`;
/// texts in quotes are left as they are.
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1;
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
            out.push(c);
        } else if c == '?' && !quoted {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            if digits.is_empty() {
                digits = next.to_string();
                next += 1;
            }
            out.push('$');
            out.push_str(&digits);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered("SELECT a FROM t WHERE b = ?1 AND c = ?2 OR d = ?1"),
            "SELECT a FROM t WHERE b = $1 AND c = $2 OR d = $1"
        );
        assert_eq!(
            numbered("SELECT x FROM t WHERE a = ? AND b LIKE '%?%' LIMIT ?"),
            "SELECT x FROM t WHERE a = $1 AND b LIKE '%?%' LIMIT $2"
        );
        assert_eq!(numbered("SELECT 'it''s ?'"), "SELECT 'it''s ?'");
    }

    #[test]
    fn values_are_read_as_asked_or_refused() {
        let row = Row(vec![
            Value::Int(3),
            Value::Text("a".into()),
            Value::Null,
            Value::Int(-1),
        ]);
        assert_eq!(row.get::<i64>(0).unwrap(), 3);
        assert!(row.get::<bool>(0).unwrap());
        assert_eq!(row.get::<String>(1).unwrap(), "a");
        assert_eq!(row.get::<Option<String>>(2).unwrap(), None);
        assert_eq!(row.get::<Option<i64>>(0).unwrap(), Some(3));
        assert_eq!(row.get::<u64>(3).unwrap(), 0);
        assert!(row.get::<String>(0).is_err());
        assert!(row.get::<i64>(2).is_err());
        assert_eq!(row.get::<Option<i64>>(9).unwrap(), None);
    }
}
