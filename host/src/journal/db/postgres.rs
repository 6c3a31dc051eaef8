//! [`Sql`] on a PostgreSQL connection: `?N` placeholders numbered as `$N`, statements
//! prepared once per connection, values converted to whatever type the server
//! inferred for each parameter (the journal's integers are all `BIGINT`, its texts
//! `TEXT COLLATE "C"`, so that text order is byte order, as in SQLite).

use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::BytesMut;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{GenericClient, Statement};

use super::{numbered, DbError, DbResult, Row, Sql, Value};

/// The advisory lock namespaces (the first key of the two-key form), so the locks of
/// dockwright never meet another program's on the same database.
pub mod namespace {
    /// The schema's migrations: one process migrates at a time.
    pub const SCHEMA: i32 = 0x6477_0001;
    /// A team's admission on an engine.
    pub const ADMISSION: i32 = 0x6477_0002;
    /// The one replica that does the background work.
    pub const LEADER: i32 = 0x6477_0003;
}

/// Prepared statements of one connection, by the journal's SQL text.
#[derive(Default)]
pub struct Statements(HashMap<String, Statement>);

/// A PostgreSQL client (or a transaction on one) with its connection's statements.
pub struct Postgres<'c, C: GenericClient> {
    pub client: &'c mut C,
    pub statements: &'c mut Statements,
}

impl<C: GenericClient> Postgres<'_, C> {
    fn statement(&mut self, sql: &str) -> DbResult<Statement> {
        if let Some(s) = self.statements.0.get(sql) {
            return Ok(s.clone());
        }
        let prepared = self.client.prepare(&numbered(sql))?;
        self.statements.0.insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }
}

impl<C: GenericClient> Sql for Postgres<'_, C> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<usize> {
        let statement = self.statement(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as _).collect();
        let n = self.client.execute(&statement, &refs)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(Row) -> DbResult<()>,
    ) -> DbResult<()> {
        use postgres::fallible_iterator::FallibleIterator;
        let statement = self.statement(sql)?;
        let mut rows = self.client.query_raw(&statement, params.iter())?;
        while let Some(row) = rows.next()? {
            each(row_of(&row)?)?;
        }
        Ok(())
    }
}

fn row_of(row: &postgres::Row) -> DbResult<Row> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?
                .map(|n| Value::Int(i64::from(n)))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)?
                .map(|n| Value::Int(i64::from(n)))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)?
                .map(|b| Value::Int(i64::from(b)))
        } else if *ty == Type::OID {
            row.try_get::<_, Option<u32>>(i)?
                .map(|n| Value::Int(i64::from(n)))
        } else if [Type::TEXT, Type::VARCHAR, Type::NAME, Type::BPCHAR].contains(ty) {
            row.try_get::<_, Option<String>>(i)?.map(Value::Text)
        } else {
            return Err(DbError::Refused(format!(
                "column `{}` is of type {ty}, which the journal does not keep",
                column.name()
            )));
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

/// A value sent as the type the server asks for: SQLite takes any value in any
/// column, PostgreSQL checks, so an integer bound where a text is expected is written
/// as its digits rather than refused.
impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => {
                if *ty == Type::INT8 {
                    n.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(*n)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*n)?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*n != 0).to_sql(ty, out)
                } else {
                    n.to_string().to_sql(&Type::TEXT, out)
                }
            }
            Value::Text(s) => {
                if *ty == Type::INT8 {
                    s.parse::<i64>()?.to_sql(ty, out)
                } else {
                    s.as_str().to_sql(&Type::TEXT, out)
                }
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}
