//! Athena's DDL spellings that DataFusion's parser does not take, rewritten into ones it does.
//!
//! Only statements that fail to parse as written are rewritten, so valid DataFusion SQL is never changed.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

fn is_kw(t: &Token, k: Keyword) -> bool {
    matches!(t, Token::Word(w) if w.keyword == k)
}

fn text(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| t.to_string())
        .collect::<String>()
        .trim()
        .to_string()
}

/// Athena declares partition columns with their types, `PARTITIONED BY (year int, month string)`; DataFusion
/// wants the types in the column list and only names in `PARTITIONED BY`. Returns the rewritten SQL, or `None`
/// when there is nothing to rewrite.
pub(crate) fn typed_partitions(sql: &str) -> Option<String> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    let sig: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i], Token::Whitespace(_)))
        .collect();
    let k = sig.windows(3).position(|w| {
        is_kw(&tokens[w[0]], Keyword::PARTITIONED)
            && is_kw(&tokens[w[1]], Keyword::BY)
            && tokens[w[2]] == Token::LParen
    })?;
    let open = sig[k + 2];
    let close = matching(&tokens, open)?;
    // Split the entries at top-level commas (not those inside `map<k,v>` or `decimal(10,2)`).
    let mut entries: Vec<Vec<Token>> = vec![vec![]];
    let mut depth = 0i32;
    for t in &tokens[open + 1..close] {
        match t {
            Token::LParen | Token::Lt => depth += 1,
            Token::RParen | Token::Gt => depth -= 1,
            Token::ShiftRight => depth -= 2,
            Token::Comma if depth == 0 => {
                entries.push(vec![]);
                continue;
            }
            _ => {}
        }
        if let Some(e) = entries.last_mut() {
            e.push(t.clone());
        }
    }
    let significant = |e: &Vec<Token>| {
        e.iter()
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .count()
    };
    if entries.iter().all(|e| significant(e) <= 1) {
        return None;
    }
    let mut names = Vec::new();
    let mut defs = Vec::new();
    for e in &entries {
        let first = e.iter().position(|t| !matches!(t, Token::Whitespace(_)))?;
        names.push(e[first].to_string());
        defs.push(text(e));
    }
    // The column list: the first `(` after `TABLE [IF NOT EXISTS] name`.
    let t = sig
        .iter()
        .position(|&i| is_kw(&tokens[i], Keyword::TABLE))?;
    let mut j = t + 1;
    if sig.get(j).is_some_and(|&i| is_kw(&tokens[i], Keyword::IF)) {
        j += 3;
    }
    // The name: words joined by periods.
    j += 1;
    while sig.get(j).is_some_and(|&i| tokens[i] == Token::Period) {
        j += 2;
    }
    let after_name = *sig.get(j)?;
    let mut out = String::new();
    if tokens[after_name] == Token::LParen {
        let col_close = matching(&tokens, after_name)?;
        out.push_str(&text(&tokens[..col_close]));
        out.push_str(", ");
        out.push_str(&defs.join(", "));
        out.push_str(&text(&tokens[col_close..=open]));
    } else {
        out.push_str(&text(&tokens[..after_name]));
        out.push_str(&format!(" ({}) ", defs.join(", ")));
        out.push_str(&text(&tokens[after_name..=open]));
    }
    out.push_str(&names.join(", "));
    out.push_str(&text(&tokens[close..]));
    Some(out)
}

/// Athena's `PREPARE name FROM <statement>` in DataFusion's spelling, `PREPARE name AS <statement>`; None when
/// there is no such `PREPARE`.
pub(crate) fn prepare_from(sql: &str) -> Option<String> {
    let mut tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    let sig: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i], Token::Whitespace(_)))
        .collect();
    let mut changed = false;
    for w in sig.windows(3) {
        if is_kw(&tokens[w[0]], Keyword::PREPARE)
            && matches!(tokens[w[1]], Token::Word(_))
            && is_kw(&tokens[w[2]], Keyword::FROM)
        {
            tokens[w[2]] = Token::make_keyword("AS");
            changed = true;
        }
    }
    changed.then(|| tokens.iter().map(|t| t.to_string()).collect())
}

/// Athena's positional parameters `?`, numbered `$1`, `$2`, ... in the order they are written, afresh in each
/// statement of a script (DataFusion binds numbered placeholders by position); None when there is no `?`.
pub(crate) fn number_placeholders(sql: &str) -> Option<String> {
    let mut tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    let mut n = 0;
    let mut changed = false;
    for t in &mut tokens {
        match t {
            Token::SemiColon => n = 0,
            Token::Placeholder(p) if p == "?" => {
                n += 1;
                *p = format!("${n}");
                changed = true;
            }
            _ => {}
        }
    }
    changed.then(|| tokens.iter().map(|t| t.to_string()).collect())
}

/// A table function's table argument as Trino and the SQL standard write it, `f(TABLE docs)` or
/// `f(TABLE (SELECT ...))`, in the spellings sqlparser reads: `f(TABLE(docs))` (a call of `TABLE`, what
/// `crate::sql::table_functions` takes) and `f((SELECT ...))`; None when there is no such argument.
pub(crate) fn table_arguments(sql: &str) -> Option<String> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    let sig: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i], Token::Whitespace(_)))
        .collect();
    // What to do at each token: drop it, or put `(` after it / `)` after it.
    let mut drop = std::collections::HashSet::new();
    let mut open_after = std::collections::HashSet::new();
    let mut close_after = std::collections::HashSet::new();
    for (k, &i) in sig.iter().enumerate() {
        let argument_starts = k > 0
            && matches!(
                tokens[sig[k - 1]],
                Token::LParen | Token::Comma | Token::RArrow
            );
        if !is_kw(&tokens[i], Keyword::TABLE) || !argument_starts {
            continue;
        }
        match sig.get(k + 1).map(|&j| &tokens[j]) {
            Some(Token::LParen) => {
                let query = sig.get(k + 2).is_some_and(|&j| {
                    is_kw(&tokens[j], Keyword::SELECT)
                        || is_kw(&tokens[j], Keyword::WITH)
                        || is_kw(&tokens[j], Keyword::VALUES)
                });
                if query {
                    drop.insert(i);
                }
            }
            Some(Token::SingleQuotedString(_)) => {
                drop.extend(i + 1..sig[k + 1]);
                open_after.insert(i);
                close_after.insert(sig[k + 1]);
            }
            Some(Token::Word(_)) => {
                // The name: words joined by periods.
                let mut last = k + 1;
                while sig
                    .get(last + 1)
                    .is_some_and(|&j| tokens[j] == Token::Period)
                    && sig
                        .get(last + 2)
                        .is_some_and(|&j| matches!(tokens[j], Token::Word(_)))
                {
                    last += 2;
                }
                drop.extend(i + 1..sig[k + 1]);
                open_after.insert(i);
                close_after.insert(sig[last]);
            }
            _ => {}
        }
    }
    if drop.is_empty() && open_after.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        if drop.contains(&i) {
            continue;
        }
        out.push_str(&t.to_string());
        if open_after.contains(&i) {
            out.push('(');
        }
        if close_after.contains(&i) {
            out.push(')');
        }
    }
    Some(out)
}

/// The index of the `)` that closes the `(` at `open`.
fn matching(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn prepare_from_and_question_marks() {
        assert_eq!(
            super::prepare_from("PREPARE by_day FROM SELECT * FROM t WHERE d = ?").as_deref(),
            Some("PREPARE by_day AS SELECT * FROM t WHERE d = ?")
        );
        assert_eq!(super::prepare_from("SELECT 'PREPARE x FROM y'"), None);
        assert_eq!(
            super::number_placeholders("SELECT '?' , a FROM t WHERE a = ? AND b = ?; SELECT ?")
                .as_deref(),
            Some("SELECT '?' , a FROM t WHERE a = $1 AND b = $2; SELECT $1")
        );
        assert_eq!(super::number_placeholders("SELECT '?'"), None);
    }

    #[test]
    fn table_arguments_in_sqlparsers_spelling() {
        use super::table_arguments;
        assert_eq!(
            table_arguments("SELECT * FROM tf_idf(TABLE docs, norm => 'l2')").as_deref(),
            Some("SELECT * FROM tf_idf(TABLE(docs), norm => 'l2')")
        );
        assert_eq!(
            table_arguments("SELECT * FROM f(x => TABLE db.\"Docs\")").as_deref(),
            Some("SELECT * FROM f(x => TABLE(db.\"Docs\"))")
        );
        assert_eq!(
            table_arguments("SELECT * FROM f(TABLE (SELECT 1 AS a))").as_deref(),
            Some("SELECT * FROM f( (SELECT 1 AS a))")
        );
        assert_eq!(
            table_arguments("SELECT * FROM f(TABLE 'docs/')").as_deref(),
            Some("SELECT * FROM f(TABLE('docs/'))")
        );
        assert_eq!(table_arguments("SELECT * FROM f(TABLE(docs))"), None);
        assert_eq!(table_arguments("CREATE TABLE t (a int)"), None);
        assert_eq!(table_arguments("SELECT 'f(TABLE x)'"), None);
    }

    use super::typed_partitions;

    #[test]
    fn moves_typed_partition_columns_into_the_column_list() {
        let sql = "CREATE EXTERNAL TABLE logs (a bigint, m map<string,int>) PARTITIONED BY (year int, dt date) STORED AS PARQUET LOCATION 's3://b/x/'";
        assert_eq!(
            typed_partitions(sql).unwrap(),
            "CREATE EXTERNAL TABLE logs (a bigint, m map<string,int>, year int, dt date) PARTITIONED BY (year, dt) STORED AS PARQUET LOCATION 's3://b/x/'"
        );
        let sql = "CREATE EXTERNAL TABLE IF NOT EXISTS db.logs PARTITIONED BY (year int) STORED AS PARQUET LOCATION 'x/'";
        assert_eq!(
            typed_partitions(sql).unwrap(),
            "CREATE EXTERNAL TABLE IF NOT EXISTS db.logs (year int) PARTITIONED BY (year) STORED AS PARQUET LOCATION 'x/'"
        );
        assert_eq!(
            typed_partitions(
                "CREATE EXTERNAL TABLE t PARTITIONED BY (a, b) STORED AS CSV LOCATION 'x'"
            ),
            None
        );
        assert_eq!(typed_partitions("SELECT 1"), None);
    }
}
