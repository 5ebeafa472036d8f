//! Names in owl's statements: Glue's folding of unquoted names, and `[awsdatacatalog.][db.]table`.

use super::Scope;
use crate::catalog::store::validate_name;
use crate::error::{Error, Result};
use datafusion::sql::sqlparser::ast::ObjectName;

pub(crate) fn ident(i: &datafusion::sql::sqlparser::ast::ObjectNamePart) -> String {
    // Unquoted names are case-insensitive: fold them as Glue does. Quoted ones are kept, and then validated.
    match i.as_ident() {
        Some(id) if id.quote_style.is_none() => id.value.to_ascii_lowercase(),
        Some(id) => id.value.clone(),
        None => i.to_string(),
    }
}

pub(crate) fn one_name(n: &ObjectName) -> Result<String> {
    match n.0.as_slice() {
        [one] => Ok(ident(one)),
        _ => Err(Error::InvalidName {
            kind: "database",
            name: n.to_string(),
            reason: "expected a single name",
        }),
    }
}

/// `t`, `db.t` or `awsdatacatalog.db.t` -> (db, t).
pub(crate) fn table_name(scope: &dyn Scope, n: &ObjectName) -> Result<(String, String)> {
    let parts: Vec<String> = n.0.iter().map(ident).collect();
    let (db, t) = match parts.as_slice() {
        [t] => (scope.database(), t.clone()),
        [db, t] => (db.clone(), t.clone()),
        [c, db, t] if c == crate::config::CATALOG_NAME => (db.clone(), t.clone()),
        _ => {
            return Err(Error::InvalidName {
                kind: "table",
                name: n.to_string(),
                reason: "expected `table`, `database.table` or `awsdatacatalog.database.table`",
            });
        }
    };
    validate_name("database", &db)?;
    validate_name("table", &t)?;
    Ok((db, t))
}
