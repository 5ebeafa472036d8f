//! The line editor's helper: when an entry is complete (SQL up to its `;`, or a `\` command line), and tab
//! completion from the registry.
//!
//! Completion reads the registry when Tab is pressed, so tables made by a crawl or a CREATE in this session
//! complete at once. What completes where:
//! 1. `\` at the start of a line: the command names; after `\d`/`\dt` tables, after `\c` databases, after
//!    `\format` the formats, after `\i`/`\o`/`\crawl` file names.
//! 2. `db.` -> that database's tables; `table.` or `alias.` -> that table's columns.
//! 3. After FROM, JOIN, INTO, TABLE, DESCRIBE: tables of the current database, and databases.
//! 4. After USE or DATABASE: databases.
//! 5. Elsewhere: columns of the tables the statement names (all tables' columns when it names none yet), then
//!    functions, keywords and tables. Keywords and functions follow the case of what was typed.

use super::meta;
use crate::batch::split;
use crate::catalog::Registry;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Whether `text` is a meta-command line in its place: it starts with `\` and no statement is open before it.
pub(crate) fn is_meta_line(pending_sql: &str, line: &str) -> bool {
    line.trim_start().starts_with('\\') && !split::needs_more(pending_sql)
}

/// Whether the shell should read more lines before running `text`: its SQL lacks a final `;` (or a quote or
/// comment is still open). Blank input and `\` command lines are complete.
pub(crate) fn needs_more_input(text: &str) -> bool {
    let mut pending = String::new();
    for line in text.split_inclusive('\n') {
        if !is_meta_line(&pending, line) {
            pending.push_str(line);
        }
    }
    split::needs_more(&pending)
}

pub(crate) struct SqlHelper {
    registry: Arc<Registry>,
    /// The current database, kept up to date by the shell (`\c`, `USE`).
    database: Arc<Mutex<String>>,
    functions: Vec<String>,
    files: FilenameCompleter,
}

/// Keywords offered by completion: the SQL people type, not every word the parser reserves (those would bury
/// the column names: `sta` is `status`, not `STATS_AUTO_RECALC`).
const KEYWORDS: &[&str] = &[
    "ALL",
    "ANALYZE",
    "AND",
    "ARRAY",
    "AS",
    "ASC",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "COLUMNS",
    "COPY",
    "CREATE",
    "CROSS",
    "CURRENT",
    "DATABASE",
    "DATE",
    "DESC",
    "DESCRIBE",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXCEPT",
    "EXISTS",
    "EXPLAIN",
    "EXTERNAL",
    "FALSE",
    "FILTER",
    "FIRST",
    "FOLLOWING",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IF",
    "ILIKE",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "LAST",
    "LATERAL",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LOCATION",
    "NOT",
    "NULL",
    "NULLS",
    "OFFSET",
    "ON",
    "OPTIONS",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "PARTITIONED",
    "PRECEDING",
    "QUALIFY",
    "RANGE",
    "RIGHT",
    "ROW",
    "ROWS",
    "SCHEMA",
    "SELECT",
    "SET",
    "SHOW",
    "STORED",
    "TABLE",
    "TABLES",
    "THEN",
    "TIMESTAMP",
    "TO",
    "TRUE",
    "UNBOUNDED",
    "UNION",
    "UNNEST",
    "USE",
    "USING",
    "VALUES",
    "VIEW",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
];

const TABLE_CONTEXT: &[&str] = &["FROM", "JOIN", "INTO", "TABLE", "DESCRIBE", "UPDATE"];
const DATABASE_CONTEXT: &[&str] = &["USE", "DATABASE", "SCHEMA"];

impl SqlHelper {
    pub(crate) fn new(
        registry: Arc<Registry>,
        database: Arc<Mutex<String>>,
        functions: Vec<String>,
    ) -> Self {
        SqlHelper {
            registry,
            database,
            functions,
            files: FilenameCompleter::new(),
        }
    }

    fn current_db(&self) -> String {
        self.database
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn tables(&self, db: &str) -> Vec<String> {
        self.registry.table_names(db).unwrap_or_default()
    }

    fn columns(&self, db: &str, table: &str) -> Vec<String> {
        self.registry
            .load_table(db, table)
            .map(|def| {
                def.columns
                    .iter()
                    .chain(def.partition_keys.iter())
                    .map(|c| c.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// (start of the word being completed, candidates) for the cursor at `pos` in `line`.
    pub(crate) fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphanumeric() || matches!(c, '_' | '.' | '\\' | '?'))
            .last()
            .map_or(pos, |(i, _)| i);
        let word = &before[start..];
        let db = self.current_db();
        // The line being edited may be the last of several; meta commands are whole lines.
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let this_line = &before[line_start..];
        if this_line.trim_start().starts_with('\\') {
            return self.meta_candidates(this_line, start, word, &db);
        }
        let tokens = tokens(before);
        if let Some((qual, partial)) = word.rsplit_once('.') {
            let start = start + qual.len() + 1;
            let dbs = self.registry.databases().unwrap_or_default();
            if dbs.iter().any(|d| d.eq_ignore_ascii_case(qual)) {
                return (start, matching(partial, self.tables(qual)));
            }
            let table = aliases(&tokens_of(line), &self.tables(&db))
                .into_iter()
                .find(|(alias, _)| alias.eq_ignore_ascii_case(qual))
                .map_or(qual.to_string(), |(_, t)| t);
            let (tdb, tname) = table.split_once('.').unwrap_or((db.as_str(), &table));
            return (start, matching(partial, self.columns(tdb, tname)));
        }
        let previous = if word.is_empty() {
            tokens.last()
        } else {
            tokens.iter().rev().nth(1)
        }
        .map(|t| t.to_ascii_uppercase());
        let tables = self.tables(&db);
        let dbs = self.registry.databases().unwrap_or_default();
        if let Some(p) = previous.as_deref() {
            if TABLE_CONTEXT.contains(&p) {
                let mut c = matching(word, tables);
                c.extend(matching(word, dbs));
                return (start, c);
            }
            if DATABASE_CONTEXT.contains(&p) {
                return (start, matching(word, dbs));
            }
        }
        // Columns of the tables the whole statement names (the cursor may sit before its FROM).
        let all = tokens_of(line);
        let named: Vec<String> = aliases(&all, &tables)
            .into_iter()
            .map(|(_, t)| t)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let named = if named.is_empty() {
            tables.clone()
        } else {
            named
        };
        let mut columns = BTreeSet::new();
        for t in &named {
            let (tdb, tname) = t.split_once('.').unwrap_or((db.as_str(), t));
            columns.extend(self.columns(tdb, tname));
        }
        let mut out = matching(word, columns);
        if !word.is_empty() {
            let lower = word.chars().all(|c| !c.is_ascii_uppercase());
            let case = |s: &str| {
                if lower {
                    s.to_ascii_lowercase()
                } else {
                    s.to_ascii_uppercase()
                }
            };
            out.extend(matching(word, self.functions.iter().map(|f| case(f))));
            out.extend(matching(word, KEYWORDS.iter().map(|k| case(k))));
            out.extend(matching(word, tables));
        }
        let mut seen = BTreeSet::new();
        out.retain(|c| seen.insert(c.clone()));
        (start, out)
    }

    fn meta_candidates(
        &self,
        line: &str,
        start: usize,
        word: &str,
        db: &str,
    ) -> (usize, Vec<String>) {
        let mut parts = line.split_whitespace();
        let command = parts.next().unwrap_or_default();
        let completing_command = !line.trim_start().contains(char::is_whitespace);
        if completing_command {
            return (
                start,
                matching(word, meta::NAMES.iter().map(|s| s.to_string())),
            );
        }
        let values = match command {
            "\\d" => {
                let mut v = self.tables(db);
                for d in self.registry.databases().unwrap_or_default() {
                    v.extend(self.tables(&d).into_iter().map(|t| format!("{d}.{t}")));
                }
                v
            }
            "\\dt" | "\\c" => self.registry.databases().unwrap_or_default(),
            "\\format" => ["table", "csv", "tsv", "json", "ndjson", "markdown"]
                .map(String::from)
                .to_vec(),
            "\\timing" => vec!["on".into(), "off".into()],
            _ => return (start, vec![]),
        };
        (start, matching(word, values))
    }
}

/// The candidates that start with `prefix` (case-insensitive), sorted.
fn matching(prefix: &str, candidates: impl IntoIterator<Item = String>) -> Vec<String> {
    let p = prefix.to_ascii_lowercase();
    let mut v: Vec<String> = candidates
        .into_iter()
        .filter(|c| c.to_ascii_lowercase().starts_with(&p) && c.len() >= prefix.len())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Words of SQL text, skipping strings and punctuation (enough to see FROM, names and aliases).
fn tokens_of(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c == '\'' {
            quote = Some(c);
        }
        if c.is_alphanumeric() || c == '_' || c == '.' {
            cur.push(c);
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if c == ',' || c == '(' || c == ')' {
                out.push(c.to_string());
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn tokens(text: &str) -> Vec<String> {
    let mut t = tokens_of(text);
    // A trailing space means the word under the cursor is empty: the last token is "previous".
    if text.ends_with(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')) {
        t.push(String::new());
    }
    t
}

/// (alias or name, table) for every known table the tokens name; `t a` and `t AS a` give alias `a`.
fn aliases(tokens: &[String], tables: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        let bare = tok.rsplit('.').next().unwrap_or(tok);
        let known = tables.iter().any(|t| t.eq_ignore_ascii_case(tok))
            || (tok.contains('.') && tables.iter().any(|t| t.eq_ignore_ascii_case(bare)));
        if !known {
            continue;
        }
        out.push((bare.to_string(), tok.to_string()));
        let next = tokens.get(i + 1).map(String::as_str);
        let alias = match next {
            Some(a) if a.eq_ignore_ascii_case("as") => tokens.get(i + 2).map(String::as_str),
            Some(a) if is_identifier(a) && !is_keyword(a) => Some(a),
            _ => None,
        };
        if let Some(a) = alias {
            out.push((a.to_string(), tok.to_string()));
        }
    }
    out
}

fn is_identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

fn is_keyword(s: &str) -> bool {
    let up = s.to_ascii_uppercase();
    datafusion::sql::sqlparser::keywords::ALL_KEYWORDS
        .binary_search(&up.as_str())
        .is_ok()
}

impl Completer for SqlHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let this_line = &line[line[..pos].rfind('\n').map_or(0, |i| i + 1)..pos];
        let trimmed = this_line.trim_start();
        if ["\\i ", "\\o ", "\\crawl "]
            .iter()
            .any(|c| trimmed.starts_with(c))
        {
            return self.files.complete(line, pos, ctx);
        }
        let (start, words) = self.candidates(line, pos);
        Ok((
            start,
            words
                .into_iter()
                .map(|w| Pair {
                    display: w.clone(),
                    replacement: w,
                })
                .collect(),
        ))
    }
}

impl Hinter for SqlHelper {
    type Hint = String;
}

impl Highlighter for SqlHelper {}

impl Validator for SqlHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        if needs_more_input(ctx.input()) {
            Ok(ValidationResult::Incomplete)
        } else {
            Ok(ValidationResult::Valid(None))
        }
    }
}

impl Helper for SqlHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_complete_at_a_semicolon_or_a_command_line() {
        for (text, more) in [
            ("", false),
            ("\\dt", false),
            ("SELECT 1", true),
            ("SELECT 1\nFROM t;", false),
            ("SELECT '\\dt", true),
            ("SELECT 1;\n\\q", false),
            ("SELECT 1\n\\q", true),
            ("-- note\n\\d t", false),
        ] {
            assert_eq!(needs_more_input(text), more, "{text:?}");
        }
    }

    fn helper() -> (tempfile::TempDir, SqlHelper) {
        // A copy of the committed registry (the sample tables).
        let dir = tempfile::tempdir().unwrap();
        let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/default");
        let to = dir.path().join("catalog/default");
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
        let registry = Arc::new(Registry::open(dir.path().join("catalog")));
        registry.create_database("sales", false).unwrap();
        let h = SqlHelper::new(
            registry,
            Arc::new(Mutex::new("default".into())),
            vec!["count".into(), "coalesce".into()],
        );
        (dir, h)
    }

    fn complete(h: &SqlHelper, line: &str) -> Vec<String> {
        let (start, c) = h.candidates(line, line.len());
        assert!(start <= line.len());
        c
    }

    #[test]
    fn completes_tables_columns_aliases_keywords_and_commands() {
        let (_dir, h) = helper();
        assert_eq!(complete(&h, "SELECT * FROM weblogs_p"), ["weblogs_parquet"]);
        assert_eq!(
            complete(&h, "select * from default.ord"),
            ["orders"],
            "db.table"
        );
        assert_eq!(complete(&h, "USE sa"), ["sales"]);
        assert_eq!(
            complete(&h, "SELECT * FROM weblogs_parquet WHERE stat"),
            ["status"]
        );
        let c = complete(&h, "SELECT * FROM weblogs_parquet WHERE sta");
        assert_eq!(
            c.first().map(String::as_str),
            Some("status"),
            "columns first"
        );
        assert!(!c.iter().any(|k| k.starts_with("stats_")), "{c:?}");
        let line = "SELECT w.sta FROM weblogs_parquet w";
        assert_eq!(h.candidates(line, 12), (9, vec!["status".to_string()]));
        assert_eq!(
            complete(&h, "SELECT o.pr FROM orders AS o WHERE x = 1 AND o.pr"),
            ["product"]
        );
        let kw = complete(&h, "SEL");
        assert!(kw.contains(&"SELECT".to_string()), "{kw:?}");
        let kw = complete(&h, "sel");
        assert!(kw.contains(&"select".to_string()), "{kw:?}");
        assert!(complete(&h, "SELECT coa").contains(&"coalesce".to_string()));
        assert_eq!(complete(&h, "\\ti"), ["\\timing"]);
        assert_eq!(complete(&h, "\\d ord"), ["orders"]);
        assert_eq!(complete(&h, "\\c sal"), ["sales"]);
        assert_eq!(complete(&h, "\\format ma"), ["markdown"]);
    }
}
