//! Athena's table DDL (Hive's) that DataFusion's parser does not read. They change or read the registry, and are
//! free.
//!
//! - Partitions: `SHOW PARTITIONS t`, `MSCK REPAIR TABLE t`,
//!   `ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (k='v', ...) [LOCATION '...'] ...`,
//!   `ALTER TABLE t DROP [IF EXISTS] PARTITION (...) [, PARTITION (...)]`,
//!   `ALTER TABLE t PARTITION (...) SET LOCATION '...'`.
//! - The table: `ALTER TABLE t ADD COLUMNS (c type [COMMENT '...'], ...)` (a new version, as Glue's UpdateTable),
//!   `ALTER TABLE t SET TBLPROPERTIES ('k' = 'v', ...)`, `SHOW TBLPROPERTIES t [('k')]`.
//!
//! The invariant: a table is written only as a query would resolve it — every partition key with a value that
//! parses as its type, every location in the table's store (and under the server's roots), every column type one
//! owl reads: the registry never holds what a query would fail on. Each statement changes the table under the
//! registry's lock, all or nothing.

use super::Scope;
use super::names::table_name;
use crate::catalog::location::{check_allowed, resolve_dir};
use crate::catalog::model::{Column, Partition, TableDef};
use crate::catalog::provider::RegistryTable;
use crate::error::{Error, Result};
use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{ObjectName, Value};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use std::sync::Arc;

/// One partition named by its keys' values, in the order written: `(dt = '2024-06-01', region = 'eu')`.
pub type Spec = Vec<(String, String)>;

/// A partition statement, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct HiveDdl {
    pub table: ObjectName,
    pub action: Action,
    /// The statement as written (history, errors, `EXPLAIN`).
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Show,
    /// `MSCK REPAIR TABLE`: add the `k=v` folders under the location that the registry lacks; never remove.
    Repair,
    Add {
        if_not_exists: bool,
        partitions: Vec<(Spec, Option<String>)>,
    },
    Drop {
        if_exists: bool,
        partitions: Vec<Spec>,
    },
    SetLocation {
        spec: Spec,
        location: String,
    },
    /// New columns (name, Hive type), after the others.
    AddColumns {
        columns: Vec<(String, String)>,
    },
    SetProperties {
        properties: Vec<(String, String)>,
    },
    /// All the table's properties, or the one named.
    ShowProperties {
        only: Option<String>,
    },
}

impl HiveDdl {
    /// The rows it answers: `SHOW PARTITIONS` one line per partition, `MSCK` what it added; none for the others.
    pub fn schema(&self) -> arrow::datatypes::SchemaRef {
        match self.action {
            Action::Show => lines_schema("partition"),
            Action::Repair => lines_schema("result"),
            Action::ShowProperties { .. } => properties_schema(),
            _ => Arc::new(Schema::empty()),
        }
    }

    /// `SHOW PARTITIONS` reads, the others change the registry: both free.
    pub fn statement_type(&self) -> crate::cost::StatementType {
        match self.action {
            Action::Show | Action::ShowProperties { .. } => crate::cost::StatementType::Utility,
            _ => crate::cost::StatementType::Ddl,
        }
    }
}

impl std::fmt::Display for HiveDdl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// `sql` as a partition statement: None when it is not one (DataFusion's parser gets it), an error naming what
/// is wrong when it starts like one but does not parse.
pub(crate) fn parse(sql: &str) -> Option<Result<HiveDdl>> {
    if !ours(sql)? {
        return None;
    }
    let mut p = Parser::new(&GenericDialect {}).try_with_sql(sql).ok()?;
    let text = sql.trim().trim_end_matches(';').trim_end().to_string();
    Some(
        statement(&mut p)
            .map(|(table, action)| HiveDdl {
                table,
                action,
                text,
            })
            .map_err(|e| Error::Query(format!("{e}"))),
    )
}

/// Whether `sql` starts as a partition statement: `SHOW PARTITIONS`, `MSCK`, or `ALTER TABLE name` then
/// `ADD [IF NOT EXISTS] PARTITION`, `DROP [IF EXISTS] PARTITION` or `PARTITION`. None when it does not tokenize.
fn ours(sql: &str) -> Option<bool> {
    let mut p = Parser::new(&GenericDialect {}).try_with_sql(sql).ok()?;
    if p.parse_keywords(&[Keyword::SHOW, Keyword::PARTITIONS])
        || p.parse_keywords(&[Keyword::SHOW, Keyword::TBLPROPERTIES])
        || p.parse_keyword(Keyword::MSCK)
    {
        return Some(true);
    }
    if !p.parse_keywords(&[Keyword::ALTER, Keyword::TABLE]) || p.parse_object_name(false).is_err() {
        return Some(false);
    }
    if p.parse_keywords(&[Keyword::ADD, Keyword::COLUMNS])
        || p.parse_keywords(&[Keyword::SET, Keyword::TBLPROPERTIES])
    {
        return Some(true);
    }
    if p.parse_keyword(Keyword::ADD) {
        let _ = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    } else if p.parse_keyword(Keyword::DROP) {
        let _ = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    }
    Some(p.parse_keyword(Keyword::PARTITION))
}

fn statement(p: &mut Parser) -> std::result::Result<(ObjectName, Action), ParserError> {
    let (table, action) = if p.parse_keywords(&[Keyword::SHOW, Keyword::PARTITIONS]) {
        (p.parse_object_name(false)?, Action::Show)
    } else if p.parse_keywords(&[Keyword::SHOW, Keyword::TBLPROPERTIES]) {
        let table = p.parse_object_name(false)?;
        let only = if p.consume_token(&Token::LParen) {
            let key = p.parse_literal_string()?;
            p.expect_token(&Token::RParen)?;
            Some(key)
        } else {
            None
        };
        (table, Action::ShowProperties { only })
    } else if p.parse_keyword(Keyword::MSCK) {
        p.expect_keywords(&[Keyword::REPAIR, Keyword::TABLE])?;
        (p.parse_object_name(false)?, Action::Repair)
    } else {
        p.expect_keywords(&[Keyword::ALTER, Keyword::TABLE])?;
        let table = p.parse_object_name(false)?;
        let action = if p.parse_keywords(&[Keyword::ADD, Keyword::COLUMNS]) {
            Action::AddColumns {
                columns: columns(p)?,
            }
        } else if p.parse_keywords(&[Keyword::SET, Keyword::TBLPROPERTIES]) {
            Action::SetProperties {
                properties: properties(p)?,
            }
        } else if p.parse_keyword(Keyword::ADD) {
            let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
            let mut partitions = vec![];
            while p.parse_keyword(Keyword::PARTITION) {
                let spec = spec(p)?;
                let location = if p.parse_keyword(Keyword::LOCATION) {
                    Some(p.parse_literal_string()?)
                } else {
                    None
                };
                partitions.push((spec, location));
            }
            if partitions.is_empty() {
                return p.expected("PARTITION", p.peek_token());
            }
            Action::Add {
                if_not_exists,
                partitions,
            }
        } else if p.parse_keyword(Keyword::DROP) {
            let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
            let mut partitions = vec![];
            loop {
                p.expect_keyword(Keyword::PARTITION)?;
                partitions.push(spec(p)?);
                if !p.consume_token(&Token::Comma) {
                    break;
                }
            }
            Action::Drop {
                if_exists,
                partitions,
            }
        } else {
            p.expect_keyword(Keyword::PARTITION)?;
            let spec = spec(p)?;
            p.expect_keywords(&[Keyword::SET, Keyword::LOCATION])?;
            Action::SetLocation {
                spec,
                location: p.parse_literal_string()?,
            }
        };
        (table, action)
    };
    while p.consume_token(&Token::SemiColon) {}
    if p.peek_token().token != Token::EOF {
        return p.expected("the end of the statement", p.peek_token());
    }
    Ok((table, action))
}

/// `('k' = 'v', ...)`.
fn properties(p: &mut Parser) -> std::result::Result<Vec<(String, String)>, ParserError> {
    p.expect_token(&Token::LParen)?;
    let mut out = vec![];
    loop {
        let key = p.parse_literal_string()?;
        p.expect_token(&Token::Eq)?;
        out.push((key, p.parse_literal_string()?));
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    Ok(out)
}

/// `(name type [COMMENT '...'], ...)`: each column's name and its type as written (`map<string,int>`,
/// `decimal(10,2)`), lower case.
fn columns(p: &mut Parser) -> std::result::Result<Vec<(String, String)>, ParserError> {
    p.expect_token(&Token::LParen)?;
    let mut out = vec![];
    loop {
        let name = p.parse_identifier()?;
        let name = if name.quote_style.is_some() {
            name.value
        } else {
            name.value.to_lowercase()
        };
        let mut ty = String::new();
        let (mut depth, mut last_word) = (0i32, false);
        loop {
            let token = p.peek_token().token;
            match &token {
                Token::EOF => break,
                Token::Comma | Token::RParen if depth == 0 => break,
                Token::Word(w) if depth == 0 && w.keyword == Keyword::COMMENT => break,
                Token::Lt | Token::LParen => depth += 1,
                Token::Gt | Token::RParen => depth -= 1,
                Token::ShiftRight => depth -= 2,
                _ => {}
            }
            let word = matches!(token, Token::Word(_));
            if word && last_word {
                ty.push(' ');
            }
            ty.push_str(&token.to_string());
            last_word = word;
            p.next_token();
        }
        if ty.is_empty() {
            return p.expected("a column type", p.peek_token());
        }
        if p.parse_keyword(Keyword::COMMENT) {
            p.parse_literal_string()?;
        }
        out.push((name, ty.to_lowercase()));
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    Ok(out)
}

/// `(k = 'v', k2 = 2, ...)`: each key's value as text (a string, a number or a boolean).
fn spec(p: &mut Parser) -> std::result::Result<Spec, ParserError> {
    p.expect_token(&Token::LParen)?;
    let mut out = vec![];
    loop {
        let key = p.parse_identifier()?;
        p.expect_token(&Token::Eq)?;
        let negative = p.consume_token(&Token::Minus);
        let value = match p.parse_value()?.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s,
            Value::Number(n, _) => format!("{}{n}", if negative { "-" } else { "" }),
            Value::Boolean(b) => b.to_string(),
            other => {
                return Err(ParserError::ParserError(format!(
                    "a partition value is a string or a number, found `{other}`"
                )));
            }
        };
        // Unquoted names fold to lower case, as Glue keeps them.
        let key = if key.quote_style.is_some() {
            key.value
        } else {
            key.value.to_lowercase()
        };
        out.push((key, value));
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    Ok(out)
}

/// Run a partition statement: DDL (nothing billed), `SHOW PARTITIONS` a one-column result.
pub(crate) async fn execute(
    scope: &dyn Scope,
    ctx: &SessionContext,
    ddl: &HiveDdl,
) -> Result<Option<RecordBatch>> {
    let (db, name) = table_name(scope, &ddl.table)?;
    let registry = scope.registry();
    match &ddl.action {
        Action::Show => {
            let def = registry.load_table(&db, &name)?;
            keyed(&def)?;
            let lines: Vec<String> = def.partitions.iter().map(|p| path_of(&def, p)).collect();
            Ok(Some(lines_batch("partition", lines)))
        }
        Action::Repair => {
            let def = registry.load_table(&db, &name)?;
            keyed(&def)?;
            // The location as it is now, listed once.
            let mut listed = def.clone();
            super::discover::discover(ctx, registry.root(), &mut listed).await?;
            let added = registry.update_table(&db, &name, |def| {
                let found: Vec<Partition> = listed
                    .partitions
                    .iter()
                    // Known by its values, or by its folder (a value written escaped in the path).
                    .filter(|p| {
                        !def.partitions
                            .iter()
                            .any(|q| same(def, &q.values, &p.values) || q.location == p.location)
                    })
                    .cloned()
                    .collect();
                def.partitions.extend(found.iter().cloned());
                def.partitions.sort_by(|a, b| a.values.cmp(&b.values));
                validate(def, registry.root())?;
                Ok(found)
            })?;
            let def = registry.load_table(&db, &name)?;
            let mut lines = vec![];
            if !added.is_empty() {
                lines.push("Partitions not in metastore:".to_string());
                lines.extend(
                    added
                        .iter()
                        .map(|p| format!("\t{name}:{}", path_of(&def, p))),
                );
                lines.extend(added.iter().map(|p| {
                    format!(
                        "Repair: Added partition to metastore {name}:{}",
                        path_of(&def, p)
                    )
                }));
            }
            Ok(Some(lines_batch("result", lines)))
        }
        Action::Add {
            if_not_exists,
            partitions,
        } => {
            registry.update_table(&db, &name, |def| {
                keyed(def)?;
                for (spec, location) in partitions {
                    let values = values_of(def, spec)?;
                    if def.partitions.iter().any(|q| same(def, &q.values, &values)) {
                        if *if_not_exists {
                            continue;
                        }
                        return Err(Error::Query(format!(
                            "partition {} of table `{db}.{name}` already exists (`ADD IF NOT EXISTS` skips it)",
                            show_spec(def, &values)
                        )));
                    }
                    let location = match location {
                        Some(l) => user_location(registry, def, l)?,
                        None => default_location(def, &values),
                    };
                    def.partitions.push(Partition {
                        values,
                        location,
                        stats: None,
                    });
                }
                def.partitions.sort_by(|a, b| a.values.cmp(&b.values));
                validate(def, registry.root())
            })?;
            Ok(None)
        }
        Action::Drop {
            if_exists,
            partitions,
        } => {
            registry.update_table(&db, &name, |def| {
                keyed(def)?;
                for spec in partitions {
                    let values = values_of(def, spec)?;
                    let before = def.partitions.len();
                    let kept: Vec<Partition> = std::mem::take(&mut def.partitions)
                        .into_iter()
                        .filter(|q| !same(def, &q.values, &values))
                        .collect();
                    def.partitions = kept;
                    if def.partitions.len() == before && !*if_exists {
                        return Err(Error::Query(format!(
                            "partition {} of table `{db}.{name}` does not exist (`SHOW PARTITIONS {name}` lists them; `DROP IF EXISTS` skips it)",
                            show_spec(def, &values)
                        )));
                    }
                }
                Ok(())
            })?;
            Ok(None)
        }
        Action::AddColumns { columns } => {
            registry.update_table(&db, &name, |def| {
                for (column, ty) in columns {
                    if def
                        .columns
                        .iter()
                        .chain(&def.partition_keys)
                        .any(|c| c.name == *column)
                    {
                        return Err(Error::Query(format!(
                            "column `{column}` already exists in table `{db}.{name}`"
                        )));
                    }
                    let arrow = crate::catalog::types::to_arrow(ty, column)?;
                    def.columns
                        .push(Column::new(column, crate::catalog::types::to_hive(&arrow)?));
                }
                // A schema change archives a version, as Glue's UpdateTable does.
                def.archive_new_version();
                validate(def, registry.root())
            })?;
            Ok(None)
        }
        Action::SetProperties { properties } => {
            registry.update_table(&db, &name, |def| {
                def.properties.extend(properties.iter().cloned());
                Ok(())
            })?;
            Ok(None)
        }
        Action::ShowProperties { only } => {
            let def = registry.load_table(&db, &name)?;
            let rows: Vec<(&String, &String)> = match only {
                None => def.properties.iter().collect(),
                Some(key) => vec![def.properties.get_key_value(key).ok_or_else(|| {
                    Error::Query(format!(
                        "table `{db}.{name}` does not have property `{key}`"
                    ))
                })?],
            };
            let keys = StringArray::from_iter_values(rows.iter().map(|(k, _)| k.as_str()));
            let values = StringArray::from_iter_values(rows.iter().map(|(_, v)| v.as_str()));
            Ok(Some(
                RecordBatch::try_new(properties_schema(), vec![Arc::new(keys), Arc::new(values)])
                    .map_err(|e| Error::Internal(e.to_string()))?,
            ))
        }
        Action::SetLocation { spec, location } => {
            registry.update_table(&db, &name, |def| {
                keyed(def)?;
                let values = values_of(def, spec)?;
                let location = user_location(registry, def, location)?;
                let shown = show_spec(def, &values);
                let table = def.name.clone();
                let p = def
                    .partitions
                    .iter_mut()
                    .find(|q| q.values == values)
                    .ok_or_else(|| {
                        Error::Query(format!(
                            "partition {shown} of table `{table}` does not exist"
                        ))
                    })?;
                p.location = location;
                // What the crawl saw there is not what the new location holds.
                p.stats = None;
                validate(def, registry.root())
            })?;
            Ok(None)
        }
    }
}

/// `SHOW TBLPROPERTIES`' columns (Hive's names).
fn properties_schema() -> arrow::datatypes::SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("prpt_name", DataType::Utf8, false),
        Field::new("prpt_value", DataType::Utf8, false),
    ]))
}

fn lines_schema(column: &str) -> arrow::datatypes::SchemaRef {
    Arc::new(Schema::new(vec![Field::new(column, DataType::Utf8, false)]))
}

fn lines_batch(column: &str, lines: Vec<String>) -> RecordBatch {
    // One non-null string column, as the schema says.
    RecordBatch::try_new(
        lines_schema(column),
        vec![Arc::new(StringArray::from(lines))],
    )
    .expect("one string column")
}

/// A table with partition keys, or the error Athena gives.
fn keyed(def: &TableDef) -> Result<()> {
    if def.partition_keys.is_empty() {
        return Err(Error::Query(format!(
            "table `{}.{}` is not partitioned",
            def.database, def.name
        )));
    }
    Ok(())
}

/// A spec's values in the table's key order: every key once, no other.
fn values_of(def: &TableDef, spec: &Spec) -> Result<Vec<String>> {
    let keys: Vec<&str> = def.partition_keys.iter().map(|k| k.name.as_str()).collect();
    for (k, _) in spec {
        if !keys.contains(&k.as_str()) {
            return Err(Error::Query(format!(
                "`{k}` is not a partition key of table `{}.{}` (its keys: {})",
                def.database,
                def.name,
                keys.join(", ")
            )));
        }
    }
    keys.iter()
        .map(|key| {
            let mut given = spec.iter().filter(|(k, _)| k == key);
            match (given.next(), given.next()) {
                (Some((_, v)), None) => Ok(v.clone()),
                (Some(_), Some(_)) => Err(Error::Query(format!(
                    "partition key `{key}` is given twice"
                ))),
                (None, _) => Err(Error::Query(format!(
                    "a partition of table `{}.{}` needs a value for every key: `{key}` is missing",
                    def.database, def.name
                ))),
            }
        })
        .collect()
}

/// Whether two partitions' values name the same partition: equal as the keys' types (`month = 1` is the
/// folder `month=01`), or as text where a value does not parse.
fn same(def: &TableDef, a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .zip(&def.partition_keys)
            .all(|((x, y), key)| {
                if x == y {
                    return true;
                }
                let Ok(ty) = crate::catalog::types::to_arrow(&key.ty, &key.name) else {
                    return false;
                };
                match (
                    datafusion::common::ScalarValue::try_from_string(x.clone(), &ty),
                    datafusion::common::ScalarValue::try_from_string(y.clone(), &ty),
                ) {
                    (Ok(x), Ok(y)) => x == y,
                    _ => false,
                }
            })
}

/// `(k='v', ...)` for messages.
fn show_spec(def: &TableDef, values: &[String]) -> String {
    let pairs: Vec<String> = def
        .partition_keys
        .iter()
        .zip(values)
        .map(|(k, v)| format!("{}='{v}'", k.name))
        .collect();
    format!("({})", pairs.join(", "))
}

/// `k=v/k2=v2`, as Athena's `SHOW PARTITIONS` prints a partition (the registry's values, as the crawl read them
/// from the path).
fn path_of(def: &TableDef, p: &Partition) -> String {
    def.partition_keys
        .iter()
        .zip(&p.values)
        .map(|(k, v)| format!("{}={v}", k.name))
        .collect::<Vec<_>>()
        .join("/")
}

/// Hive's partition folder `k=v/k2=v2/` under the table's location.
fn default_location(def: &TableDef, values: &[String]) -> String {
    format!(
        "{}/",
        def.partition_keys
            .iter()
            .zip(values)
            .map(|(k, v)| format!("{}={}", k.name, escape(v)))
            .collect::<Vec<_>>()
            .join("/")
    )
}

/// A value as Hive writes it in a path: the characters a path cannot hold as they are, as `%XX`.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if c.is_control() || "\"#%'*/:=?\\\x7f{[]^".contains(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A location the user typed (a URL, or a local path from the working folder) as a partition's registry
/// location: absolute, checked against the server's roots.
fn user_location(
    registry: &crate::catalog::Registry,
    def: &TableDef,
    location: &str,
) -> Result<String> {
    let cwd = std::env::current_dir().map_err(|e| Error::Io {
        context: "reading the working folder".into(),
        source: e,
    })?;
    let url = resolve_dir(location, &cwd)?;
    check_allowed(&url, registry.allowed_roots())?;
    let table = resolve_dir(&def.location, registry.root())?;
    if url.scheme() != table.scheme() || url.authority() != table.authority() {
        return Err(Error::InvalidLocation {
            location: location.into(),
            reason: format!(
                "a partition lives in its table's store (`{}://{}`)",
                table.scheme(),
                table.authority()
            ),
        });
    }
    Ok(match url.scheme() {
        "file" => {
            url.to_file_path()
                .map_err(|()| Error::InvalidLocation {
                    location: location.into(),
                    reason: "not a local path".into(),
                })?
                .to_string_lossy()
                .to_string()
                + "/"
        }
        _ => url.to_string(),
    })
}

/// The table as a query would resolve it: every partition's values parse as its keys' types, every location
/// lies in the table's store.
fn validate(def: &TableDef, root: &std::path::Path) -> Result<()> {
    RegistryTable::try_new(def.clone(), root.to_path_buf()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(sql: &str) -> Action {
        parse(sql).expect("ours").expect("parses").action
    }

    #[test]
    fn reads_athenas_partition_statements() {
        assert_eq!(action("SHOW PARTITIONS logs"), Action::Show);
        assert_eq!(action("msck repair table db.logs;"), Action::Repair);
        assert_eq!(
            action(
                "ALTER TABLE logs ADD IF NOT EXISTS PARTITION (dt = '2024-06-01', Region='eu') \
                 LOCATION 's3://b/logs/2024/06/01/eu/' PARTITION (dt='2024-06-02', region = 'eu')"
            ),
            Action::Add {
                if_not_exists: true,
                partitions: vec![
                    (
                        vec![
                            ("dt".into(), "2024-06-01".into()),
                            ("region".into(), "eu".into())
                        ],
                        Some("s3://b/logs/2024/06/01/eu/".into())
                    ),
                    (
                        vec![
                            ("dt".into(), "2024-06-02".into()),
                            ("region".into(), "eu".into())
                        ],
                        None
                    ),
                ]
            }
        );
        assert_eq!(
            action(
                "ALTER TABLE logs DROP PARTITION (year = 2024, month = -1), PARTITION (year=2025, month=1)"
            ),
            Action::Drop {
                if_exists: false,
                partitions: vec![
                    vec![
                        ("year".into(), "2024".into()),
                        ("month".into(), "-1".into())
                    ],
                    vec![("year".into(), "2025".into()), ("month".into(), "1".into())],
                ]
            }
        );
        assert_eq!(
            action("ALTER TABLE logs PARTITION (dt='x') SET LOCATION 'data/x/'"),
            Action::SetLocation {
                spec: vec![("dt".into(), "x".into())],
                location: "data/x/".into()
            }
        );
    }

    #[test]
    fn reads_athenas_table_statements() {
        assert_eq!(
            action(
                "ALTER TABLE t ADD COLUMNS (a map<string,int> COMMENT 'x', `B` decimal(10, 2), \
                 c array<struct<x:int,y:string>>, d double precision)"
            ),
            Action::AddColumns {
                columns: vec![
                    ("a".into(), "map<string,int>".into()),
                    ("B".into(), "decimal(10,2)".into()),
                    ("c".into(), "array<struct<x:int,y:string>>".into()),
                    ("d".into(), "double precision".into()),
                ]
            }
        );
        assert_eq!(
            action("ALTER TABLE t SET TBLPROPERTIES ('projection.enabled' = 'true', 'a'='b')"),
            Action::SetProperties {
                properties: vec![
                    ("projection.enabled".into(), "true".into()),
                    ("a".into(), "b".into())
                ]
            }
        );
        assert_eq!(
            action("SHOW TBLPROPERTIES t ('classification')"),
            Action::ShowProperties {
                only: Some("classification".into())
            }
        );
        assert_eq!(
            action("show tblproperties db.t"),
            Action::ShowProperties { only: None }
        );
    }

    #[test]
    fn leaves_other_statements_to_datafusion_and_names_what_is_wrong() {
        for sql in [
            "SELECT 1",
            "ALTER TABLE t ADD COLUMN c int",
            "SHOW TABLES",
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 'x'",
        ] {
            assert!(parse(sql).is_none(), "{sql}");
        }
        for (sql, says) in [
            ("ALTER TABLE t ADD PARTITION dt='x'", "("),
            ("ALTER TABLE t ADD PARTITION (dt=x)", "a concrete value"),
            (
                "ALTER TABLE t DROP PARTITION (dt='x') PARTITION (dt='y')",
                "end of the statement",
            ),
            ("MSCK TABLE t", "REPAIR"),
            ("ALTER TABLE t PARTITION (dt='x') LOCATION 'y'", "SET"),
            ("ALTER TABLE t ADD COLUMNS (a)", "a column type"),
            ("ALTER TABLE t SET TBLPROPERTIES ('a' 'b')", "Expected: ="),
        ] {
            let e = parse(sql).expect("ours").unwrap_err().to_string();
            assert!(e.contains(says), "{sql}: {e}");
        }
    }

    #[test]
    fn escapes_values_as_hive_writes_paths() {
        assert_eq!(escape("2024-06-01 10:00"), "2024-06-01 10%3A00");
        assert_eq!(escape("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(escape("ünï"), "ünï");
    }
}
