//! [`Sql`] on an SQLite connection (or a transaction, which is one).

use rusqlite::types::{Value as Lite, ValueRef};
use rusqlite::Connection;

use super::{DbError, DbResult, Row, Sql, Value};

/// A borrowed SQLite connection; statements are cached by the connection.
pub struct Sqlite<'c>(pub &'c Connection);

fn to_sqlite(params: &[Value]) -> Vec<Lite> {
    params
        .iter()
        .map(|v| match v {
            Value::Null => Lite::Null,
            Value::Int(n) => Lite::Integer(*n),
            Value::Text(s) => Lite::Text(s.clone()),
        })
        .collect()
}

fn from_sqlite(v: ValueRef<'_>) -> DbResult<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Real(r) => Value::Int(r as i64),
        ValueRef::Blob(_) => {
            return Err(DbError::Refused(
                "a blob where the journal keeps none".into(),
            ))
        }
    })
}

impl Sql for Sqlite<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<usize> {
        let mut statement = self.0.prepare_cached(sql)?;
        Ok(statement.execute(rusqlite::params_from_iter(to_sqlite(params)))?)
    }

    fn each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(Row) -> DbResult<()>,
    ) -> DbResult<()> {
        let mut statement = self.0.prepare_cached(sql)?;
        let columns = statement.column_count();
        let mut rows = statement.query(rusqlite::params_from_iter(to_sqlite(params)))?;
        while let Some(row) = rows.next()? {
            let values = (0..columns)
                .map(|i| from_sqlite(row.get_ref(i)?))
                .collect::<DbResult<Vec<Value>>>()?;
            each(Row(values))?;
        }
        Ok(())
    }
}
