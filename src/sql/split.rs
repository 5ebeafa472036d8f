//! Splitting a .sql file into statements, each with the line it starts on and the checks written above it.
//!
//! `;` ends a statement only outside strings (`'it''s'`), quoted identifiers (`"a;b"`, `` `a;b` ``), line
//! comments (`-- ;`) and block comments (`/* ; */`, nested as in SQL). A check is a line comment of the form
//! `-- owl:expect ...` before a statement (see [`Check`]).

use std::path::PathBuf;

/// One statement of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlStatement {
    /// The statement's text, without the `;` (comments inside it kept).
    pub sql: String,
    /// 1-based line of its first character that is not blank or comment.
    pub line: usize,
    pub checks: Vec<Check>,
    /// Whether a `;` ended it (the last statement of a text may run to its end).
    pub terminated: bool,
    /// Line and column (1-based) in the file of `sql`'s first character (a comment before the statement is
    /// part of `sql`): what positions inside `sql` are relative to.
    pub text_at: (usize, usize),
}

impl SqlStatement {
    /// The file's line and column of `sql`'s line `line`, column `column` (1-based).
    pub fn file_position(&self, line: usize, column: usize) -> (usize, usize) {
        let (l0, c0) = self.text_at;
        if line <= 1 {
            (l0, c0 + column.saturating_sub(1))
        } else {
            (l0 + line - 1, column)
        }
    }
}

/// A data check on a statement's result, written as `-- owl:expect ...` above it:
/// - `-- owl:expect rows = 0` (also `!=`, `<`, `<=`, `>`, `>=`): the row count;
/// - `-- owl:expect file = expected/top_paths.csv`: the result, as `--format csv` prints it, equals the file
///   (path relative to the .sql file).
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Rows(Cmp, u64),
    File(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn holds(self, a: u64, b: u64) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// A file that cannot be split: the line the problem starts on and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitError {
    pub line: usize,
    pub message: String,
}

const DIRECTIVE: &str = "owl:expect";

/// Split `text` into statements.
pub fn split(text: &str) -> Result<Vec<SqlStatement>, SplitError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start_line: Option<usize> = None;
    let mut text_at: Option<(usize, usize)> = None;
    // The 1-based column of char index `i`.
    let column = |i: usize| chars[..i].iter().rev().take_while(|&&c| c != '\n').count() + 1;
    let mut checks = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let err = |line: usize, message: &str| SplitError {
        line,
        message: message.into(),
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\'' | '"' | '`' => {
                let opened = line;
                start_line.get_or_insert(line);
                text_at.get_or_insert((line, column(i)));
                cur.push(c);
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err(err(opened, &format!("unterminated {c} quote")));
                    };
                    cur.push(d);
                    i += 1;
                    if d == '\n' {
                        line += 1;
                    }
                    if d == c {
                        // A doubled quote is an escaped quote, not the end.
                        if chars.get(i) == Some(&c) {
                            cur.push(c);
                            i += 1;
                            continue;
                        }
                        break;
                    }
                }
                continue;
            }
            '-' if next == Some('-') => {
                let end = chars[i..]
                    .iter()
                    .position(|&d| d == '\n')
                    .map_or(chars.len(), |p| i + p);
                let comment: String = chars[i + 2..end].iter().collect();
                let body = comment.trim();
                if let Some(rest) = body.strip_prefix(DIRECTIVE) {
                    if start_line.is_some() {
                        return Err(err(
                            line,
                            "`-- owl:expect` goes before a statement, not inside one",
                        ));
                    }
                    checks.push(parse_check(rest).map_err(|m| err(line, &m))?);
                } else {
                    text_at.get_or_insert((line, column(i)));
                    cur.extend(&chars[i..end]);
                }
                i = end;
                continue;
            }
            '/' if next == Some('*') => {
                let opened = line;
                text_at.get_or_insert((line, column(i)));
                let mut depth = 0;
                loop {
                    match (chars.get(i), chars.get(i + 1)) {
                        (Some('/'), Some('*')) => {
                            depth += 1;
                            cur.push_str("/*");
                            i += 2;
                        }
                        (Some('*'), Some('/')) => {
                            depth -= 1;
                            cur.push_str("*/");
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        (Some(&d), _) => {
                            if d == '\n' {
                                line += 1;
                            }
                            cur.push(d);
                            i += 1;
                        }
                        (None, _) => return Err(err(opened, "unterminated /* comment")),
                    }
                }
                continue;
            }
            ';' => {
                if let Some(l) = start_line.take() {
                    out.push(SqlStatement {
                        sql: cur.trim().to_string(),
                        line: l,
                        checks: std::mem::take(&mut checks),
                        terminated: true,
                        text_at: text_at.unwrap_or((l, 1)),
                    });
                }
                text_at = None;
                cur.clear();
            }
            '\n' => {
                line += 1;
                cur.push(c);
            }
            c if c.is_whitespace() => cur.push(c),
            c => {
                start_line.get_or_insert(line);
                text_at.get_or_insert((line, column(i)));
                cur.push(c);
            }
        }
        i += 1;
    }
    if let Some(l) = start_line {
        out.push(SqlStatement {
            sql: cur.trim().to_string(),
            line: l,
            checks,
            terminated: false,
            text_at: text_at.unwrap_or((l, 1)),
        });
    } else if !checks.is_empty() {
        return Err(err(
            line,
            "`-- owl:expect` at the end of the file has no statement",
        ));
    }
    Ok(out)
}

/// Whether `text` still lacks the end of a statement: a quote or comment left open, or SQL after the last `;`.
/// Only blanks and comments after it are a whole text (what an interactive shell waits for).
pub fn needs_more(text: &str) -> bool {
    match split(text) {
        Ok(stmts) => stmts.last().is_some_and(|s| !s.terminated),
        Err(e) => e.message.starts_with("unterminated"),
    }
}

fn parse_check(rest: &str) -> Result<Check, String> {
    let rest = rest.trim();
    let bad = || {
        format!(
            "cannot read `-- owl:expect {rest}`: write `-- owl:expect rows = N` (or != < <= > >=) or \
             `-- owl:expect file = PATH.csv`"
        )
    };
    if let Some(v) = rest.strip_prefix("file") {
        let path = v.trim().strip_prefix('=').ok_or_else(bad)?.trim();
        if path.is_empty() {
            return Err(bad());
        }
        return Ok(Check::File(PathBuf::from(path)));
    }
    let v = rest.strip_prefix("rows").ok_or_else(bad)?.trim();
    let (cmp, n) = [
        ("!=", Cmp::Ne),
        ("<=", Cmp::Le),
        (">=", Cmp::Ge),
        ("=", Cmp::Eq),
        ("<", Cmp::Lt),
        (">", Cmp::Gt),
    ]
    .iter()
    .find_map(|(op, c)| v.strip_prefix(op).map(|n| (*c, n)))
    .ok_or_else(bad)?;
    let n = n.trim().parse().map_err(|_| bad())?;
    Ok(Check::Rows(cmp, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqls(text: &str) -> Vec<(String, usize)> {
        split(text)
            .unwrap()
            .into_iter()
            .map(|s| (s.sql, s.line))
            .collect()
    }

    #[test]
    fn positions_inside_a_statement_map_to_the_file() {
        let text = "SELECT 1;\n  -- note\n  SELECT a,\n    nope FROM t; SELECT x";
        let stmts = split(text).unwrap();
        assert_eq!(stmts[1].sql, "-- note\n  SELECT a,\n    nope FROM t");
        assert_eq!(stmts[1].text_at, (2, 3));
        assert_eq!(stmts[1].file_position(3, 5), (4, 5), "`nope`");
        assert_eq!(stmts[1].file_position(1, 4), (2, 6));
        assert_eq!(stmts[2].text_at, (4, 18));
    }

    #[test]
    fn a_text_needs_more_until_its_last_statement_ends() {
        for (text, more) in [
            ("", false),
            ("  -- just a comment\n", false),
            ("SELECT 1", true),
            ("SELECT 1;", false),
            ("SELECT 1; -- done\n", false),
            ("SELECT 1;\nSELECT", true),
            ("SELECT 'a;", true),
            ("SELECT 'a;';", false),
            ("SELECT /* ; */", true),
            ("SELECT /* ;", true),
            ("SELECT \"x;\" FROM t;", false),
        ] {
            assert_eq!(needs_more(text), more, "{text:?}");
        }
    }

    #[test]
    fn semicolons_in_strings_identifiers_and_comments_do_not_split() {
        let text = "SELECT 'a;b', 'it''s;' AS \"x;y\";\n-- a comment; with a semicolon\nSELECT /* ; /* nested; */ ; */ 2\n;\n\nSELECT `q;`";
        assert_eq!(
            sqls(text),
            vec![
                ("SELECT 'a;b', 'it''s;' AS \"x;y\"".to_string(), 1),
                (
                    "-- a comment; with a semicolon\nSELECT /* ; /* nested; */ ; */ 2".to_string(),
                    3
                ),
                ("SELECT `q;`".to_string(), 6),
            ]
        );
    }

    #[test]
    fn lines_count_newlines_inside_strings_and_comments() {
        let text = "/* one\ntwo */\nSELECT 'a\nb';\n\n  SELECT 3;";
        assert_eq!(
            sqls(text).iter().map(|s| s.1).collect::<Vec<_>>(),
            vec![3, 6]
        );
    }

    #[test]
    fn empty_statements_and_trailing_comments_are_not_statements() {
        assert_eq!(sqls(";;\n-- only a comment\n").len(), 0);
        assert_eq!(sqls("SELECT 1;;").len(), 1);
    }

    #[test]
    fn checks_attach_to_the_next_statement() {
        let s = split("-- owl:expect rows = 0\nSELECT 1;\n-- owl:expect rows>=2\n-- owl:expect file = out/a.csv\nSELECT 2").unwrap();
        assert_eq!(s[0].checks, vec![Check::Rows(Cmp::Eq, 0)]);
        assert_eq!(s[0].line, 2);
        assert_eq!(
            s[1].checks,
            vec![
                Check::Rows(Cmp::Ge, 2),
                Check::File(PathBuf::from("out/a.csv"))
            ]
        );
    }

    #[test]
    fn bad_input_names_the_line() {
        assert_eq!(split("SELECT 1;\nSELECT 'x").unwrap_err().line, 2);
        assert_eq!(split("\n/* never closed").unwrap_err().line, 2);
        let e = split("-- owl:expect rowz = 1\nSELECT 1").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("owl:expect rows = N"), "{}", e.message);
        assert!(split("SELECT 1;\n-- owl:expect rows = 1\n").is_err());
    }
}
