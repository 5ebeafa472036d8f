//! owl's own statements: what the registry owns, and the Athena spellings DataFusion's parser lacks.
//!
//! - `commands`: `CREATE EXTERNAL TABLE` (persisted), `DROP`, `CREATE/DROP DATABASE`, `SHOW DATABASES|TABLES`,
//!   `DESCRIBE`, `USE`: they change or read the registry, and are free.
//! - `ctas`: Athena's `CREATE TABLE ... WITH (...) AS SELECT`: the query's result written as files and
//!   registered (billed as its query).
//! - `analyze`: `ANALYZE TABLE t COMPUTE STATISTICS`: Glue's column statistics as one query (billed as its scan).
//! - `athena`: spellings of Athena's (typed `PARTITIONED BY`, `PREPARE ... FROM`, positional `?`) rewritten into
//!   DataFusion's before parsing.
//! - `hive_ddl`: Athena's table DDL that DataFusion's parser does not read, parsed by owl: `SHOW PARTITIONS`,
//!   `MSCK REPAIR TABLE`, `ALTER TABLE ... ADD|DROP PARTITION`, `... PARTITION (...) SET LOCATION`,
//!   `... ADD COLUMNS`, `... SET TBLPROPERTIES`, `SHOW TBLPROPERTIES`, Hive's `CREATE EXTERNAL TABLE ... ROW FORMAT
//!   ... TBLPROPERTIES`, `SHOW CREATE TABLE`.
//! - `precedence`: `IS [NOT] DISTINCT FROM` bound tighter than `AND`/`OR`, as SQL binds it (sqlparser does not).
//! - `prepared`: `PREPARE`, `EXECUTE ... USING`, `DEALLOCATE PREPARE`: a work group's prepared statements.
//! - `split`: SQL text into statements (`;` outside quotes and comments), with their lines and `-- owl:` checks.
//! - `names`: `[awsdatacatalog.][db.]table` and Glue's folding of unquoted names; `discover`: a new table's
//!   location listed once (size, `key=value` partitions).
//!
//! - `table_functions`: functions over a whole table, `tf_idf(TABLE docs)`, planned as SQL over their input.
//!
//! Everything else a statement can be is DataFusion's, run by `engine`.

pub(crate) mod analyze;
pub(crate) mod athena;
pub(crate) mod commands;
pub(crate) mod create;
pub(crate) mod ctas;
pub(crate) mod discover;
pub mod hive_ddl;
pub(crate) mod names;
pub(crate) mod precedence;
pub(crate) mod prepared;
pub mod split;
pub mod table_functions;

use crate::catalog::Registry;
use crate::error::Result;
use std::sync::Arc;

/// A statement as owl runs it.
#[derive(Debug, Clone)]
pub enum Statement {
    /// What DataFusion's parser reads (Athena's spellings rewritten first, `athena`).
    Sql(datafusion::sql::parser::Statement),
    /// Athena's table DDL that DataFusion's parser does not read (`hive_ddl`).
    Hive(hive_ddl::HiveDdl),
}

impl From<datafusion::sql::parser::Statement> for Statement {
    fn from(s: datafusion::sql::parser::Statement) -> Self {
        Statement::Sql(s)
    }
}

impl std::fmt::Display for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Statement::Sql(s) => s.fmt(f),
            Statement::Hive(p) => p.fmt(f),
        }
    }
}

impl Statement {
    /// The SQL statement inside, when DataFusion's parser read it.
    pub fn sql(&self) -> Option<&datafusion::sql::sqlparser::ast::Statement> {
        match self {
            Statement::Sql(datafusion::sql::parser::Statement::Statement(s)) => Some(s),
            _ => None,
        }
    }
}

/// What owl's statements need of the session that runs them: the registry and the current database
/// (`engine::Engine` is one).
pub trait Scope: Send + Sync {
    fn registry(&self) -> &Arc<Registry>;
    /// The database unqualified names resolve in.
    fn database(&self) -> String;
    /// `USE db`.
    fn set_database(&self, db: &str) -> Result<()>;
}
