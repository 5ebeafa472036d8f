//! Athena's table DDL (Hive's) that DataFusion's parser does not read. They change or read the registry, and are
//! free.
//!
//! - Partitions: `SHOW PARTITIONS t`, `MSCK REPAIR TABLE t`,
//!   `ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (k='v', ...) [LOCATION '...'] ...`,
//!   `ALTER TABLE t DROP [IF EXISTS] PARTITION (...) [, PARTITION (...)]`,
//!   `ALTER TABLE t PARTITION (...) SET LOCATION '...'`.
//! - The table: `ALTER TABLE t ADD COLUMNS (c type [COMMENT '...'], ...)` (a new version, as Glue's UpdateTable),
//!   `ALTER TABLE t SET TBLPROPERTIES ('k' = 'v', ...)`, `SHOW TBLPROPERTIES t [('k')]`.
//! - Hive's `CREATE EXTERNAL TABLE` (`ROW FORMAT DELIMITED|SERDE`, `WITH SERDEPROPERTIES`, `STORED AS
//!   [INPUTFORMAT]`, `TBLPROPERTIES`, `COMMENT`s; DataFusion's own form stays DataFusion's), registered by
//!   `create::create_table` as DataFusion's is; `SHOW CREATE TABLE t` prints DDL that creates it again.
//!
//! The invariant: a table is written only as a query would resolve it — every partition key with a value that
//! parses as its type, every location in the table's store (and under the server's roots), every column type one
//! owl reads: the registry never holds what a query would fail on. Each statement changes the table under the
//! registry's lock, all or nothing.

use super::Scope;
use super::names::table_name;
use crate::catalog::location::{check_allowed, resolve_dir};
use crate::catalog::model::{Column, Compression, CsvOptions, FormatSpec, Partition, TableDef};
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
    /// `SHOW CREATE TABLE`: the DDL that creates this table again, a row per line as Athena prints it.
    ShowCreate,
    /// `CREATE EXTERNAL TABLE` in Hive's syntax (`ROW FORMAT`, `STORED AS INPUTFORMAT`, `TBLPROPERTIES`).
    Create(Box<Create>),
}

/// Athena's `CREATE EXTERNAL TABLE`, as written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Create {
    pub if_not_exists: bool,
    /// (name, Hive type).
    pub columns: Vec<(String, String)>,
    pub partitioned_by: Vec<(String, String)>,
    /// The SerDe (`ROW FORMAT DELIMITED` is LazySimpleSerDe with its `field.delim`, ... properties) and its
    /// properties.
    pub serde: Option<(String, Vec<(String, String)>)>,
    /// `STORED AS name`, or `STORED AS INPUTFORMAT 'class'` (the input format's class).
    pub stored_as: Option<String>,
    pub location: Option<String>,
    pub properties: Vec<(String, String)>,
}

impl HiveDdl {
    /// The rows it answers: `SHOW PARTITIONS` one line per partition, `MSCK` what it added; none for the others.
    pub fn schema(&self) -> arrow::datatypes::SchemaRef {
        match self.action {
            Action::Show => lines_schema("partition"),
            Action::Repair => lines_schema("result"),
            Action::ShowProperties { .. } => properties_schema(),
            Action::ShowCreate => lines_schema("createtab_stmt"),
            _ => Arc::new(Schema::empty()),
        }
    }

    /// `SHOW PARTITIONS` reads, the others change the registry: both free.
    pub fn statement_type(&self) -> crate::cost::StatementType {
        match self.action {
            Action::Show | Action::ShowProperties { .. } | Action::ShowCreate => {
                crate::cost::StatementType::Utility
            }
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
        || p.parse_keywords(&[Keyword::SHOW, Keyword::CREATE, Keyword::TABLE])
        || p.parse_keyword(Keyword::MSCK)
    {
        return Some(true);
    }
    if p.parse_keywords(&[Keyword::CREATE, Keyword::EXTERNAL, Keyword::TABLE]) {
        // Hive's clauses, which DataFusion's CREATE EXTERNAL TABLE lacks; DataFusion's `OPTIONS (...)` keeps a
        // statement DataFusion's.
        let (mut depth, mut hive) = (0i32, false);
        loop {
            match p.next_token().token {
                Token::EOF => return Some(hive),
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                Token::Word(w) if depth == 0 && w.keyword == Keyword::OPTIONS => {
                    return Some(false);
                }
                Token::Word(w) if w.keyword == Keyword::COMMENT => hive = true,
                Token::Word(w)
                    if depth == 0
                        && (matches!(
                            w.keyword,
                            Keyword::ROW
                                | Keyword::INPUTFORMAT
                                | Keyword::TBLPROPERTIES
                                | Keyword::SERDEPROPERTIES
                                | Keyword::TEXTFILE
                        ) || ["ORC", "AVRO", "JSONFILE", "SEQUENCEFILE", "RCFILE", "ION"]
                            .contains(&w.value.to_ascii_uppercase().as_str())) =>
                {
                    hive = true;
                }
                _ => {}
            }
        }
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
    } else if p.parse_keywords(&[Keyword::SHOW, Keyword::CREATE, Keyword::TABLE]) {
        (p.parse_object_name(false)?, Action::ShowCreate)
    } else if p.parse_keywords(&[Keyword::CREATE, Keyword::EXTERNAL, Keyword::TABLE]) {
        let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
        let table = p.parse_object_name(false)?;
        (table, Action::Create(Box::new(create(p, if_not_exists)?)))
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

/// The clauses after `CREATE EXTERNAL TABLE [IF NOT EXISTS] name`, in Hive's order or any other. String
/// literals are read as Hive reads them (`'\t'` is a tab, `'\\'` a backslash, `'\001'` the octal byte).
fn create(p: &mut Parser, if_not_exists: bool) -> std::result::Result<Create, ParserError> {
    let mut c = Create {
        if_not_exists,
        ..Create::default()
    };
    if p.peek_token().token == Token::LParen {
        c.columns = columns(p)?;
    }
    let string = |p: &mut Parser| p.parse_literal_string().map(|s| unescape_hive(&s));
    let pairs = |p: &mut Parser| -> std::result::Result<Vec<(String, String)>, ParserError> {
        Ok(properties(p)?
            .into_iter()
            .map(|(k, v)| (unescape_hive(&k), unescape_hive(&v)))
            .collect())
    };
    loop {
        if p.parse_keyword(Keyword::COMMENT) {
            string(p)?;
        } else if p.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY]) {
            c.partitioned_by = columns(p)?;
        } else if p.parse_keywords(&[Keyword::ROW, Keyword::FORMAT]) {
            if p.parse_keyword(Keyword::SERDE) {
                c.serde = Some((string(p)?, vec![]));
            } else {
                p.expect_keyword(Keyword::DELIMITED)?;
                let mut props = vec![];
                loop {
                    let key =
                        if p.parse_keywords(&[Keyword::FIELDS, Keyword::TERMINATED, Keyword::BY]) {
                            "field.delim"
                        } else if p.parse_keywords(&[Keyword::ESCAPED, Keyword::BY]) {
                            "escape.delim"
                        } else if p.parse_keywords(&[
                            Keyword::COLLECTION,
                            Keyword::ITEMS,
                            Keyword::TERMINATED,
                            Keyword::BY,
                        ]) {
                            "collection.delim"
                        } else if p.parse_keywords(&[
                            Keyword::MAP,
                            Keyword::KEYS,
                            Keyword::TERMINATED,
                            Keyword::BY,
                        ]) {
                            "mapkey.delim"
                        } else if p.parse_keywords(&[
                            Keyword::LINES,
                            Keyword::TERMINATED,
                            Keyword::BY,
                        ]) {
                            "line.delim"
                        } else if p.parse_keywords(&[Keyword::NULL, Keyword::DEFINED, Keyword::AS])
                        {
                            "serialization.null.format"
                        } else {
                            break;
                        };
                    props.push((key.to_string(), string(p)?));
                }
                c.serde = Some((LAZY_SIMPLE.to_string(), props));
            }
        } else if p.parse_keywords(&[Keyword::WITH, Keyword::SERDEPROPERTIES]) {
            let props = pairs(p)?;
            match &mut c.serde {
                Some((_, existing)) => existing.extend(props),
                None => {
                    return p.expected(
                        "ROW FORMAT SERDE before WITH SERDEPROPERTIES",
                        p.peek_token(),
                    );
                }
            }
        } else if p.parse_keywords(&[Keyword::STORED, Keyword::AS]) {
            if p.parse_keyword(Keyword::INPUTFORMAT) {
                let input = string(p)?;
                p.expect_keyword(Keyword::OUTPUTFORMAT)?;
                string(p)?;
                c.stored_as = Some(input);
            } else {
                c.stored_as = Some(p.parse_identifier()?.value.to_ascii_uppercase());
            }
        } else if p.parse_keyword(Keyword::LOCATION) {
            c.location = Some(string(p)?);
        } else if p.parse_keyword(Keyword::TBLPROPERTIES) {
            c.properties = pairs(p)?;
        } else if p.parse_keywords(&[Keyword::CLUSTERED, Keyword::BY]) {
            return Err(ParserError::ParserError(
                "CLUSTERED BY (bucketed tables) is not supported yet".into(),
            ));
        } else {
            break;
        }
    }
    Ok(c)
}

const LAZY_SIMPLE: &str = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";
const OPEN_CSV: &str = "org.apache.hadoop.hive.serde2.OpenCSVSerde";
const REGEX: &str = "org.apache.hadoop.hive.serde2.RegexSerDe";
const GROK: &str = "com.amazonaws.glue.serde.GrokSerDe";

/// A string literal as Hive's parser reads it (`unescapeSQLString`): `\n`, `\t`, `\r`, `\b`, `\0`, `\Z`,
/// `\ooo` (octal), `\uXXXX`; `\%` and `\_` keep their backslash; a backslash before anything else is dropped.
pub(crate) fn unescape_hive(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 == chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let next = chars[i + 1];
        let octal = |j: usize| chars.get(j).is_some_and(|c| ('0'..='7').contains(c));
        if octal(i + 1) && octal(i + 2) && octal(i + 3) {
            let n = chars[i + 1..i + 4]
                .iter()
                .fold(0u32, |n, c| n * 8 + c.to_digit(8).unwrap_or(0));
            out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
            i += 4;
            continue;
        }
        if next == 'u' && i + 6 <= chars.len() {
            let hex: String = chars[i + 2..i + 6].iter().collect();
            if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                out.push(ch);
                i += 6;
                continue;
            }
        }
        match next {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' => out.push('\u{8}'),
            '0' => out.push('\0'),
            'Z' => out.push('\u{1a}'),
            '%' | '_' => {
                out.push('\\');
                out.push(next);
            }
            other => out.push(other),
        }
        i += 2;
    }
    out
}

/// A string as a Hive literal that [`unescape_hive`] reads back: quotes, backslashes and control characters
/// escaped.
fn quote_hive(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\047"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0o400 && c.is_control() => {
                out.push_str(&format!("\\{:03o}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
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
                // A projection must parse (its template is checked against the roots as every table write is).
                validate(def, registry.root())
            })?;
            Ok(None)
        }
        Action::ShowCreate => {
            let def = registry.load_table(&db, &name)?;
            Ok(Some(lines_batch(
                "createtab_stmt",
                show_create(&def, registry.root())?,
            )))
        }
        Action::Create(c) => {
            let location = c.location.clone().ok_or_else(|| {
                Error::Query(
                    "CREATE EXTERNAL TABLE needs a LOCATION (the folder of its files)".into(),
                )
            })?;
            let field = |(n, ty): &(String, String)| {
                crate::catalog::types::to_arrow(ty, n).map(|t| Field::new(n, t, true))
            };
            let mut fields = c.columns.iter().map(field).collect::<Result<Vec<_>>>()?;
            fields.extend(
                c.partitioned_by
                    .iter()
                    .map(field)
                    .collect::<Result<Vec<_>>>()?,
            );
            super::create::create_table(
                scope,
                ctx,
                super::create::NewTable {
                    database: Some(db),
                    name,
                    if_not_exists: c.if_not_exists,
                    or_replace: false,
                    location,
                    format: format_of(c)?,
                    fields,
                    partition_cols: c.partitioned_by.iter().map(|(n, _)| n.clone()).collect(),
                    properties: c.properties.iter().cloned().collect(),
                },
            )
            .await?;
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

/// How a Hive `CREATE EXTERNAL TABLE`'s SerDe, `STORED AS` and properties read its files.
fn format_of(c: &Create) -> Result<FormatSpec> {
    let props: std::collections::BTreeMap<&str, &str> = c
        .properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let library = c.serde.as_ref().map(|(l, _)| l.to_ascii_lowercase());
    let serde_prop = |k: &str| {
        c.serde
            .as_ref()
            .and_then(|(_, p)| p.iter().rev().find(|(key, _)| key == k))
            .map(|(_, v)| v.clone())
    };
    let stored = c.stored_as.as_deref().map(str::to_ascii_lowercase);
    // A log table's classification names its classifier (`combined_apache`, `mylog`), kept as written.
    let label_of = |own: &str| {
        props
            .get("classification")
            .filter(|c| !c.eq_ignore_ascii_case(own))
            .map(|c| c.to_string())
    };
    let says = |s: &str| {
        library.as_deref().is_some_and(|l| l.contains(s))
            || stored.as_deref().is_some_and(|l| l.contains(s))
    };
    if says("parquet") {
        return Ok(FormatSpec::parquet());
    }
    if says("orc") {
        return Ok(FormatSpec::orc());
    }
    if says("avro") {
        return Ok(FormatSpec::avro());
    }
    if let Some(s) = &stored
        && !matches!(
            s.as_str(),
            "textfile"
                | "jsonfile"
                | "org.apache.hadoop.mapred.textinputformat"
                | "com.amazon.emr.cloudtrail.cloudtrailinputformat"
        )
    {
        return Err(Error::Unsupported(format!(
            "STORED AS {} is not one owl reads (PARQUET, ORC, AVRO, TEXTFILE, JSONFILE)",
            c.stored_as.as_deref().unwrap_or_default()
        )));
    }
    let compression = match props.get("compressionType").map(|s| s.to_ascii_lowercase()) {
        None => Compression::None,
        Some(c) => match c.as_str() {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "bzip2" => Compression::Bzip2,
            "xz" => Compression::Xz,
            "zstd" => Compression::Zstd,
            other => {
                return Err(Error::Unsupported(format!(
                    "compressionType `{other}` is not one owl reads (none, gzip, bzip2, xz, zstd)"
                )));
            }
        },
    };
    // CloudTrail's files: Athena's documented tables name its input format (with either JSON SerDe) or its
    // older `CloudTrailSerde`.
    let cloudtrail = stored.as_deref().is_some_and(|f| f.contains("cloudtrail"))
        || library.as_deref().is_some_and(|l| l.contains("cloudtrail"));
    if says("json") || cloudtrail {
        let serde_props = c.serde.iter().flat_map(|(_, p)| p.iter());
        let mut json = crate::catalog::model::JsonOptions::from_serde_properties(
            serde_props.map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .map_err(Error::Query)?;
        json.records = cloudtrail;
        return Ok(FormatSpec {
            json,
            label: label_of("json"),
            ..FormatSpec::json(compression)
        });
    }
    let header_lines: u32 = match props.get("skip.header.line.count").map(|s| s.trim()) {
        None => 0,
        Some(n) => n.parse().map_err(|_| {
            Error::Query(format!(
                "skip.header.line.count `{n}` is not a whole number of lines"
            ))
        })?,
    };
    // Owl's CSV readers skip a header of one line or none; RegexSerDe and Grok tables any number.
    let line_serde = library
        .as_deref()
        .is_some_and(|l| l == REGEX.to_ascii_lowercase() || l == GROK.to_ascii_lowercase());
    if header_lines > 1 && !line_serde {
        return Err(Error::Unsupported(format!(
            "skip.header.line.count = {header_lines}: owl skips a header of one line or none (any number for RegexSerDe and Grok tables)"
        )));
    }
    let has_header = header_lines == 1;
    let one_byte = |what: &str, s: String| -> Result<String> {
        if s.len() == 1 {
            Ok(s)
        } else {
            Err(Error::Unsupported(format!(
                "{what} `{}` must be one byte",
                s.escape_default()
            )))
        }
    };
    let csv = match library.as_deref() {
        None => CsvOptions {
            delimiter: "\u{1}".into(),
            has_header,
            ..CsvOptions::default()
        },
        Some(l) if l == LAZY_SIMPLE.to_ascii_lowercase() => {
            if let Some(lines) = serde_prop("line.delim")
                && lines != "\n"
            {
                return Err(Error::Unsupported(format!(
                    "LINES TERMINATED BY `{}`: owl reads lines ending in \\n",
                    lines.escape_default()
                )));
            }
            CsvOptions {
                delimiter: one_byte(
                    "FIELDS TERMINATED BY",
                    serde_prop("field.delim")
                        .or_else(|| serde_prop("serialization.format"))
                        .unwrap_or_else(|| "\u{1}".into()),
                )?,
                has_header,
                escape: serde_prop("escape.delim")
                    .map(|e| one_byte("ESCAPED BY", e))
                    .transpose()?,
                null_format: serde_prop("serialization.null.format").or_else(|| {
                    props
                        .get("serialization.null.format")
                        .map(|s| s.to_string())
                }),
                ..CsvOptions::default()
            }
        }
        Some(l) if l == OPEN_CSV.to_ascii_lowercase() => CsvOptions {
            delimiter: one_byte(
                "separatorChar",
                serde_prop("separatorChar").unwrap_or_else(|| ",".into()),
            )?,
            quote: one_byte(
                "quoteChar",
                serde_prop("quoteChar").unwrap_or_else(|| "\"".into()),
            )?,
            escape: Some(one_byte(
                "escapeChar",
                serde_prop("escapeChar").unwrap_or_else(|| "\\".into()),
            )?),
            has_header,
            newlines_in_values: false,
            null_format: None,
        },
        Some(l) if l == REGEX.to_ascii_lowercase() => {
            let regex = serde_prop("input.regex").ok_or_else(|| {
                Error::Query("RegexSerDe needs WITH SERDEPROPERTIES ('input.regex' = '...')".into())
            })?;
            let insensitive = serde_prop("input.regex.case.insensitive")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let regex = if insensitive {
                format!("(?i){regex}")
            } else {
                regex
            };
            crate::formats::regex_lines::compile(&regex).map_err(Error::Query)?;
            return Ok(FormatSpec {
                label: label_of("regex"),
                header_lines,
                ..FormatSpec::regex(compression, regex)
            });
        }
        Some(l) if l == GROK.to_ascii_lowercase() => {
            let format = serde_prop("input.format").ok_or_else(|| {
                Error::Query(
                    "Grok SerDe needs WITH SERDEPROPERTIES ('input.format' = '...')".into(),
                )
            })?;
            let custom = serde_prop("input.grokCustomPatterns");
            crate::formats::grok::check(&format, custom.as_deref()).map_err(Error::Query)?;
            let grok = crate::catalog::model::GrokSpec {
                format,
                custom_patterns: custom,
            };
            return Ok(FormatSpec {
                label: label_of("grok"),
                header_lines,
                ..FormatSpec::grok(compression, grok)
            });
        }
        Some(l) if l.contains("regex") || l.contains("grok") => {
            return Err(Error::Unsupported(format!(
                "ROW FORMAT SERDE '{}' is not supported yet",
                c.serde
                    .as_ref()
                    .map(|(l, _)| l.as_str())
                    .unwrap_or_default()
            )));
        }
        Some(_) => {
            return Err(Error::Unsupported(format!(
                "ROW FORMAT SERDE '{}' is not one owl reads (LazySimpleSerDe, OpenCSVSerde, the JSON SerDes, Parquet, ORC, Avro)",
                c.serde
                    .as_ref()
                    .map(|(l, _)| l.as_str())
                    .unwrap_or_default()
            )));
        }
    };
    if csv.null_format.is_some() && csv.escape.is_some() {
        return Err(Error::Unsupported(
            "serialization.null.format with ESCAPED BY: owl reads a null format on tables without an escape character".into(),
        ));
    }
    Ok(FormatSpec::csv(compression, csv))
}

/// `SHOW CREATE TABLE`'s lines, laid out as Athena prints them; run again, they create an equal table. A local
/// location is written as an absolute path.
fn show_create(def: &TableDef, root: &std::path::Path) -> Result<Vec<String>> {
    fn list(lines: &mut Vec<String>, items: Vec<String>, close: &str) {
        let n = items.len();
        for (i, item) in items.into_iter().enumerate() {
            lines.push(if i + 1 == n {
                format!("  {item}{close}")
            } else {
                format!("  {item},")
            });
        }
    }
    let column = |c: &Column| format!("`{}` {}", c.name, c.ty);
    let mut lines = vec![format!("CREATE EXTERNAL TABLE `{}`(", def.name)];
    list(&mut lines, def.columns.iter().map(column).collect(), ")");
    if !def.partition_keys.is_empty() {
        lines.push("PARTITIONED BY (".into());
        list(
            &mut lines,
            def.partition_keys.iter().map(column).collect(),
            ")",
        );
    }
    let (input, output, serde) = def.format.hive_formats();
    match &def.format.csv {
        Some(csv) if csv.quote == "\"" => {
            lines.push("ROW FORMAT DELIMITED".into());
            lines.push(format!(
                "  FIELDS TERMINATED BY {}",
                quote_hive(&csv.delimiter)
            ));
            if let Some(e) = &csv.escape {
                lines.push(format!("  ESCAPED BY {}", quote_hive(e)));
            }
            if let Some(n) = &csv.null_format {
                lines.push(format!("  NULL DEFINED AS {}", quote_hive(n)));
            }
        }
        Some(csv) => {
            lines.push("ROW FORMAT SERDE".into());
            lines.push(format!("  {}", quote_hive(OPEN_CSV)));
            lines.push("WITH SERDEPROPERTIES (".into());
            let mut props = vec![format!("'separatorChar'={}", quote_hive(&csv.delimiter))];
            props.push(format!("'quoteChar'={}", quote_hive(&csv.quote)));
            if let Some(e) = &csv.escape {
                props.push(format!("'escapeChar'={}", quote_hive(e)));
            }
            list(&mut lines, props, ")");
        }
        None => {
            lines.push("ROW FORMAT SERDE".into());
            lines.push(format!("  {}", quote_hive(serde)));
            if let Some(re) = &def.format.regex {
                lines.push("WITH SERDEPROPERTIES (".into());
                lines.push(format!("  'input.regex'={})", quote_hive(re)));
            }
            let json = def.format.json.serde_properties();
            if !json.is_empty() {
                lines.push("WITH SERDEPROPERTIES (".into());
                let props = json
                    .iter()
                    .map(|(k, v)| format!("{}={}", quote_hive(k), quote_hive(v)))
                    .collect();
                list(&mut lines, props, ")");
            }
            if let Some(g) = &def.format.grok {
                lines.push("WITH SERDEPROPERTIES (".into());
                let mut props = vec![format!("'input.format'={}", quote_hive(&g.format))];
                if let Some(custom) = &g.custom_patterns {
                    props.push(format!("'input.grokCustomPatterns'={}", quote_hive(custom)));
                }
                list(&mut lines, props, ")");
            }
        }
    }
    lines.push("STORED AS INPUTFORMAT".into());
    lines.push(format!("  {}", quote_hive(input)));
    lines.push("OUTPUTFORMAT".into());
    lines.push(format!("  {}", quote_hive(output)));
    let url = resolve_dir(&def.location, root)?;
    let location = match url.scheme() {
        "file" => url
            .to_file_path()
            .map(|p| format!("{}/", p.to_string_lossy().trim_end_matches('/')))
            .unwrap_or_else(|()| url.to_string()),
        _ => url.to_string(),
    };
    lines.push("LOCATION".into());
    lines.push(format!("  {}", quote_hive(&location)));
    if !def.properties.is_empty() {
        lines.push("TBLPROPERTIES (".into());
        list(
            &mut lines,
            def.properties
                .iter()
                .map(|(k, v)| format!("{}={}", quote_hive(k), quote_hive(v)))
                .collect(),
            ")",
        );
    }
    Ok(lines)
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

/// `k=v/k2=v2`, as Athena's `SHOW PARTITIONS` prints a partition (Hive's `makePartName`: the registry's values
/// escaped as in a path, `s=a%2Fb`).
fn path_of(def: &TableDef, p: &Partition) -> String {
    def.partition_keys
        .iter()
        .zip(&p.values)
        .map(|(k, v)| {
            let v = (v != crate::formats::HIVE_NULL_PARTITION).then_some(v.as_str());
            crate::formats::hive_folder(&k.name, v)
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Hive's partition folder `k=v/k2=v2/` under the table's location.
fn default_location(def: &TableDef, values: &[String]) -> String {
    let keys: Vec<&str> = def.partition_keys.iter().map(|k| k.name.as_str()).collect();
    crate::catalog::location::hive_folder(&keys, values)
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
        use crate::catalog::location::hive_folder;
        let folder = |v: &str| hive_folder(&["k"], &[v.to_string()]);
        assert_eq!(folder("2024-06-01 10:00"), "k=2024-06-01 10%3A00/");
        assert_eq!(folder("a/b=c"), "k=a%2Fb%3Dc/");
        assert_eq!(folder("ünï"), "k=ünï/");
        assert_eq!(
            hive_folder(&["a", "b"], &["1".into(), "x".into()]),
            "a=1/b=x/"
        );
    }

    #[test]
    fn reads_athenas_create_external_table() {
        // As AWS's documentation writes a CloudTrail-style table (SerDe, input format, properties).
        let sql = r#"CREATE EXTERNAL TABLE IF NOT EXISTS `logs`.`trail` (
            eventversion STRING COMMENT 'v',
            useridentity STRUCT<type:STRING, arn:STRING>,
            `Resources` ARRAY<STRUCT<arn:STRING>>)
          COMMENT 'CloudTrail table'
          PARTITIONED BY (region string, `timestamp` string)
          ROW FORMAT SERDE 'com.amazon.emr.hive.serde.CloudTrailSerde'
          WITH SERDEPROPERTIES ('serialization.format' = '1')
          STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
          OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
          LOCATION 's3://bucket/AWSLogs/123/CloudTrail/'
          TBLPROPERTIES ('projection.enabled'='true', 'projection.timestamp.format'='yyyy/MM/dd');"#;
        let ddl = parse(sql).expect("ours").expect("parses");
        assert_eq!(ddl.table.to_string(), "`logs`.`trail`");
        let Action::Create(c) = ddl.action else {
            panic!("{:?}", ddl.action)
        };
        assert!(c.if_not_exists);
        assert_eq!(
            c.columns,
            vec![
                ("eventversion".into(), "string".into()),
                (
                    "useridentity".into(),
                    "struct<type:string,arn:string>".into()
                ),
                ("Resources".into(), "array<struct<arn:string>>".into()),
            ]
        );
        assert_eq!(
            c.partitioned_by,
            vec![
                ("region".into(), "string".into()),
                ("timestamp".into(), "string".into())
            ]
        );
        assert_eq!(
            c.serde,
            Some((
                "com.amazon.emr.hive.serde.CloudTrailSerde".into(),
                vec![("serialization.format".into(), "1".into())]
            ))
        );
        assert_eq!(
            c.stored_as.as_deref(),
            Some("com.amazon.emr.cloudtrail.CloudTrailInputFormat")
        );
        assert_eq!(c.properties.len(), 2);
        // ROW FORMAT DELIMITED is LazySimpleSerDe's properties; literals unescaped as Hive does.
        let Action::Create(c) = action(
            r"CREATE EXTERNAL TABLE t (a int) ROW FORMAT DELIMITED FIELDS TERMINATED BY '	' ESCAPED BY '\' LINES TERMINATED BY '
' STORED AS TEXTFILE LOCATION 'x/'",
        ) else {
            panic!()
        };
        assert_eq!(
            c.serde,
            Some((
                LAZY_SIMPLE.into(),
                vec![
                    ("field.delim".into(), "\t".into()),
                    ("escape.delim".into(), "\\".into()),
                    ("line.delim".into(), "\n".into())
                ]
            ))
        );
        assert_eq!(c.stored_as.as_deref(), Some("TEXTFILE"));
        // DataFusion's own CREATE EXTERNAL TABLE is left to DataFusion, OPTIONS and all.
        assert!(parse("CREATE EXTERNAL TABLE t (a int) STORED AS PARQUET LOCATION 'x'").is_none());
        assert!(parse(
            "CREATE EXTERNAL TABLE t (a int) STORED AS TEXTFILE LOCATION 'x' OPTIONS ('format.delimiter' '|')"
        )
        .is_none());
    }

    #[test]
    fn hive_literals_round_trip() {
        assert_eq!(
            unescape_hive(r"\001|\t|\\|\d|\%|\u0041"),
            "\u{1}|\t|\\|d|\\%|A"
        );
        for s in ["a'b", "\\s+", "tab\there", "\u{1}", "plain", "100%"] {
            let quoted = quote_hive(s);
            assert_eq!(unescape_hive(&quoted[1..quoted.len() - 1]), s, "{quoted}");
        }
    }
}
