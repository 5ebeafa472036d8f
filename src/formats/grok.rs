//! Grok (`com.amazonaws.glue.serde.GrokSerDe`, Glue's grok classifiers): a line pattern written with named,
//! reusable parts. `%{NAME}` is the pattern called NAME; `%{NAME:field}` also captures it as `field`;
//! `%{NAME:field:type}` gives a crawler the field's type. Definitions come from the table's
//! `input.grokCustomPatterns` (one `NAME pattern` a line, these win) and the standard set below, Logstash's
//! `grok-patterns` that Athena's documentation names.
//!
//! How owl reads a line, as Athena does:
//! - the pattern is searched for in the line (not anchored, as Logstash's grok); a line it is not found in
//!   is a row of NULLs;
//! - a column takes the capture of its name (case-insensitive): `%{NAME:field}`, a regex's own
//!   `(?<field>...)`, or an unnamed `%{NAME}` (captured as its pattern's name, so `%{SYSLOGBASE}` fills a
//!   `syslogbase` column); when a name is captured twice, the first capture in the pattern is the column's;
//!   a column no capture names is NULL;
//! - the text is parsed as the column's type with RegexSerDe's rules (`regex_lines`).
//!
//! The standard patterns are written in the dialect of Rust's `regex` crate: their look-arounds (boundary
//! guards such as `(?<![0-9])` before an IPv4 address) are left out, and atomic groups are plain groups. `\w`,
//! `\d`, `\s` and `\b` are ASCII, as in Java. A pattern that uses a look-around or back-reference of its own is
//! refused when the table is created, in one line.

use regex::bytes::Regex;
use std::collections::{BTreeMap, HashMap};

use super::regex_lines::LinePattern;

/// Logstash's standard grok patterns (`NAME pattern`, one a line), in Rust's regex dialect.
const STANDARD: &str = r#"
USERNAME [a-zA-Z0-9._-]+
USER %{USERNAME}
INT (?:[+-]?(?:[0-9]+))
BASE10NUM (?:[+-]?(?:(?:[0-9]+(?:\.[0-9]+)?)|(?:\.[0-9]+)))
NUMBER (?:%{BASE10NUM})
BASE16NUM (?:[+-]?(?:0x)?(?:[0-9A-Fa-f]+))
BASE16FLOAT \b(?:[+-]?(?:0x)?(?:(?:[0-9A-Fa-f]+(?:\.[0-9A-Fa-f]*)?)|(?:\.[0-9A-Fa-f]+)))\b
POSINT \b(?:[1-9][0-9]*)\b
NONNEGINT \b(?:[0-9]+)\b
WORD \b\w+\b
NOTSPACE \S+
SPACE \s*
DATA .*?
GREEDYDATA .*
QUOTEDSTRING (?:"(?:\\.|[^\\"]+)+"|""|'(?:\\.|[^\\']+)+'|''|`(?:\\.|[^\\`]+)+`|``)
UUID [A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}
MAC (?:%{CISCOMAC}|%{WINDOWSMAC}|%{COMMONMAC})
CISCOMAC (?:(?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4})
WINDOWSMAC (?:(?:[A-Fa-f0-9]{2}-){5}[A-Fa-f0-9]{2})
COMMONMAC (?:(?:[A-Fa-f0-9]{2}:){5}[A-Fa-f0-9]{2})
IPV6 (?:(?:(?:[0-9A-Fa-f]{1,4}:){7}(?:[0-9A-Fa-f]{1,4}|:))|(?:(?:[0-9A-Fa-f]{1,4}:){6}(?::[0-9A-Fa-f]{1,4}|%{IPV4}|:))|(?:(?:[0-9A-Fa-f]{1,4}:){5}(?:(?::[0-9A-Fa-f]{1,4}){1,2}|:%{IPV4}|:))|(?:(?:[0-9A-Fa-f]{1,4}:){4}(?:(?::[0-9A-Fa-f]{1,4}){1,3}|(?::[0-9A-Fa-f]{1,4})?:%{IPV4}|:))|(?:(?:[0-9A-Fa-f]{1,4}:){3}(?:(?::[0-9A-Fa-f]{1,4}){1,4}|(?::[0-9A-Fa-f]{1,4}){0,2}:%{IPV4}|:))|(?:(?:[0-9A-Fa-f]{1,4}:){2}(?:(?::[0-9A-Fa-f]{1,4}){1,5}|(?::[0-9A-Fa-f]{1,4}){0,3}:%{IPV4}|:))|(?:(?:[0-9A-Fa-f]{1,4}:)(?:(?::[0-9A-Fa-f]{1,4}){1,6}|(?::[0-9A-Fa-f]{1,4}){0,4}:%{IPV4}|:))|(?::(?:(?::[0-9A-Fa-f]{1,4}){1,7}|(?::[0-9A-Fa-f]{1,4}){0,5}:%{IPV4}|:)))(?:%.+)?
IPV4 (?:(?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})[.](?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})[.](?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})[.](?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2}))
IP (?:%{IPV6}|%{IPV4})
HOSTNAME \b(?:[0-9A-Za-z][0-9A-Za-z-]{0,62})(?:\.(?:[0-9A-Za-z][0-9A-Za-z-]{0,62}))*(?:\.?|\b)
HOST %{HOSTNAME}
IPORHOST (?:%{HOSTNAME}|%{IP})
HOSTPORT %{IPORHOST}:%{POSINT}
PATH (?:%{UNIXPATH}|%{WINPATH})
UNIXPATH (?:/(?:[\w_%!$@:.,-]+|\\.)*)+
TTY (?:/dev/(?:pts|tty[pq]?)(?:\w+)?/?(?:[0-9]+))
WINPATH (?:[A-Za-z]+:|\\)(?:\\[^\\?*]*)+
URIPROTO [A-Za-z]+(?:\+[A-Za-z+]+)?
URIHOST %{IPORHOST}(?::%{POSINT:port})?
URIPATH (?:/[A-Za-z0-9$.+!*'(){},~:;=@#%_\-]*)+
URIPARAM \?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]]*
URIPATHPARAM %{URIPATH}(?:%{URIPARAM})?
URI %{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{URIHOST})?(?:%{URIPATHPARAM})?
MONTH \b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b
MONTHNUM (?:0?[1-9]|1[0-2])
MONTHNUM2 (?:0[1-9]|1[0-2])
MONTHDAY (?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])
DAY (?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)
YEAR (?:\d\d){1,2}
HOUR (?:2[0123]|[01]?[0-9])
MINUTE (?:[0-5][0-9])
SECOND (?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)
TIME %{HOUR}:%{MINUTE}(?::%{SECOND})
DATE_US %{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}
DATE_EU %{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}
ISO8601_TIMEZONE (?:Z|[+-]%{HOUR}(?::?%{MINUTE}))
ISO8601_SECOND (?:%{SECOND}|60)
TIMESTAMP_ISO8601 %{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?
DATE %{DATE_US}|%{DATE_EU}
DATESTAMP %{DATE}[- ]%{TIME}
TZ (?:[PMCE][SD]T|UTC)
DATESTAMP_RFC822 %{DAY} %{MONTH} %{MONTHDAY} %{YEAR} %{TIME} %{TZ}
DATESTAMP_RFC2822 %{DAY}, %{MONTHDAY} %{MONTH} %{YEAR} %{TIME} %{ISO8601_TIMEZONE}
DATESTAMP_OTHER %{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{TZ} %{YEAR}
DATESTAMP_EVENTLOG %{YEAR}%{MONTHNUM2}%{MONTHDAY}%{HOUR}%{MINUTE}%{SECOND}
SYSLOGTIMESTAMP %{MONTH} +%{MONTHDAY} %{TIME}
PROG (?:[\w._/%-]+)
SYSLOGPROG %{PROG:program}(?:\[%{POSINT:pid}\])?
SYSLOGHOST %{IPORHOST}
SYSLOGFACILITY <%{NONNEGINT:facility}.%{NONNEGINT:priority}>
HTTPDATE %{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}
QS %{QUOTEDSTRING}
SYSLOGBASE %{SYSLOGTIMESTAMP:timestamp} (?:%{SYSLOGFACILITY} )?%{SYSLOGHOST:logsource} %{SYSLOGPROG}:
COMMONAPACHELOG %{IPORHOST:clientip} %{USER:ident} %{USER:auth} \[%{HTTPDATE:timestamp}\] "(?:%{WORD:verb} %{NOTSPACE:request}(?: HTTP/%{NUMBER:httpversion})?|%{DATA:rawrequest})" %{NUMBER:response} (?:%{NUMBER:bytes}|-)
COMBINEDAPACHELOG %{COMMONAPACHELOG} %{QS:referrer} %{QS:agent}
LOGLEVEL (?:[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo|INFO|[Ww]arn?(?:ing)?|WARN?(?:ING)?|[Ee]rr?(?:or)?|ERR?(?:OR)?|[Cc]rit?(?:ical)?|CRIT?(?:ICAL)?|[Ff]atal|FATAL|[Ss]evere|SEVERE|EMERG(?:ENCY)?|[Ee]merg(?:ency)?)
"#;

/// How deep `%{...}` may nest before owl calls it a loop.
const MAX_DEPTH: usize = 64;

/// The prefix of the capture groups owl names (`owl_g3`); a pattern's own named groups keep their names.
const GROUP: &str = "owl_g";

/// One field a grok pattern captures, in pattern order: its name and the type `%{NAME:field:type}` gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrokField {
    pub name: String,
    pub ty: Option<String>,
}

/// The definitions a pattern may use: the table's custom ones over the standard set.
fn definitions(custom: Option<&str>) -> Result<HashMap<String, String>, String> {
    let mut defs = HashMap::new();
    for (text, what) in [(STANDARD, None), (custom.unwrap_or(""), Some(()))] {
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, pattern) = line
                .split_once(|c: char| c.is_ascii_whitespace())
                .unwrap_or((line, ""));
            if what.is_some() && !valid_name(name) {
                return Err(format!(
                    "input.grokCustomPatterns: `{name}` is no pattern name (letters, digits, `_`), each line is `NAME pattern`"
                ));
            }
            if what.is_some() && pattern.trim().is_empty() {
                return Err(format!(
                    "input.grokCustomPatterns: pattern `{name}` has no definition"
                ));
            }
            defs.insert(name.to_string(), pattern.trim_start().to_string());
        }
    }
    Ok(defs)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A grok pattern expanded into one regex.
struct Expander<'a> {
    defs: &'a HashMap<String, String>,
    /// Whether a field (lower case; `true` when `%{NAME:field}` names it, false for an unnamed `%{NAME}`) is
    /// captured; the first capture of a name wins.
    wanted: &'a dyn Fn(&str, bool) -> bool,
    captured: std::collections::HashSet<String>,
    /// The field of each group `owl_gN`.
    fields: Vec<GrokField>,
    stack: Vec<String>,
}

impl Expander<'_> {
    fn expand(&mut self, pattern: &str, out: &mut String) -> Result<(), String> {
        let mut rest = pattern;
        while let Some(at) = rest.find("%{") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!("grok pattern: `%{{` without `}}` in `{pattern}`"));
            };
            let inner = &after[..end];
            let mut parts = inner.splitn(3, ':');
            let name = parts.next().unwrap_or_default();
            let field = parts.next().filter(|s| !s.is_empty());
            let ty = parts.next().filter(|s| !s.is_empty());
            if !valid_name(name) {
                // Not a reference (`%{` in a character class, say): the text stays as written.
                out.push_str("%{");
                rest = after;
                continue;
            }
            let Some(def) = self.defs.get(name) else {
                return Err(format!(
                    "grok pattern %{{{name}}} is not defined: not a standard pattern; define it as `{name} regex` in the custom patterns (input.grokCustomPatterns, --grok-custom-patterns, Glue's CustomPatterns)"
                ));
            };
            if self.stack.iter().any(|s| s == name) || self.stack.len() >= MAX_DEPTH {
                return Err(format!("grok pattern %{{{name}}} refers to itself"));
            }
            let capture = field.unwrap_or(name);
            let key = capture.to_ascii_lowercase();
            if (self.wanted)(&key, field.is_some()) && self.captured.insert(key) {
                out.push_str(&format!("(?P<{GROUP}{}>", self.fields.len()));
                self.fields.push(GrokField {
                    name: capture.to_string(),
                    ty: ty.map(str::to_string),
                });
            } else {
                out.push_str("(?:");
            }
            self.stack.push(name.to_string());
            self.expand(def, out)?;
            self.stack.pop();
            out.push(')');
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(())
    }
}

/// Compile `format` (with the table's custom patterns) into a regex and the fields its groups capture,
/// capturing only the fields `wanted` says (lower case, and whether the pattern named it).
fn compile_with(
    format: &str,
    custom: Option<&str>,
    wanted: &dyn Fn(&str, bool) -> bool,
) -> Result<(Regex, Vec<GrokField>), String> {
    let defs = definitions(custom)?;
    let mut e = Expander {
        defs: &defs,
        wanted,
        captured: Default::default(),
        fields: Vec::new(),
        stack: Vec::new(),
    };
    let mut regex = String::new();
    e.expand(format, &mut regex)?;
    let compiled = super::regex_lines::ascii_first(&regex).map_err(|err| {
        let text = err.to_string();
        let why = text.lines().last().unwrap_or_default().trim();
        let why = why.strip_prefix("error: ").unwrap_or(why);
        format!("input.format does not compile: {why}")
    })?;
    Ok((compiled, e.fields))
}

/// Check a table's grok pattern: it compiles with every field captured.
pub(crate) fn check(format: &str, custom: Option<&str>) -> Result<(), String> {
    compile_with(format, custom, &|_, _| true).map(|_| ())
}

/// The named fields of a grok pattern in pattern order, with their `:type`s (a crawler's columns): every
/// `%{NAME:field}` and `(?<field>...)`, nested ones included; unnamed `%{NAME}`s are left out.
pub(crate) fn fields(format: &str, custom: Option<&str>) -> Result<Vec<GrokField>, String> {
    let (regex, groups) = compile_with(format, custom, &|_, named| named)?;
    let mut out: Vec<GrokField> = Vec::new();
    for name in regex.capture_names().flatten() {
        let field = match name
            .strip_prefix(GROUP)
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(i) => groups[i].clone(),
            None => GrokField {
                name: name.to_string(),
                ty: None,
            },
        };
        if !out.iter().any(|f| f.name.eq_ignore_ascii_case(&field.name)) {
            out.push(field);
        }
    }
    Ok(out)
}

/// The line pattern a grok table reads `columns` (its file columns, in order) with.
pub(crate) fn line_pattern(
    format: &str,
    custom: Option<&str>,
    columns: &[&str],
) -> Result<LinePattern, String> {
    let wanted: std::collections::HashSet<String> =
        columns.iter().map(|c| c.to_ascii_lowercase()).collect();
    let (regex, fields) = compile_with(format, custom, &|k, _| wanted.contains(k))?;
    // Each captured name's first group.
    let mut group_of: BTreeMap<String, usize> = BTreeMap::new();
    for (i, name) in regex.capture_names().enumerate() {
        let Some(name) = name else { continue };
        let field = match name
            .strip_prefix(GROUP)
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => fields[n].name.to_ascii_lowercase(),
            None => name.to_ascii_lowercase(),
        };
        group_of.entry(field).or_insert(i);
    }
    let groups = columns
        .iter()
        .map(|c| group_of.get(&c.to_ascii_lowercase()).copied())
        .collect();
    Ok(LinePattern {
        regex,
        groups,
        header_lines: 0,
    })
}

/// The Hive type of a grok field's `:type` (Glue's names: byte, short, int, long, float, double, boolean,
/// string, date, timestamp); no type is a string.
pub(crate) fn hive_type(ty: Option<&str>) -> Result<&'static str, String> {
    Ok(match ty.map(str::to_ascii_lowercase).as_deref() {
        None | Some("string") => "string",
        Some("byte") => "tinyint",
        Some("short") => "smallint",
        Some("int") | Some("integer") => "int",
        Some("long") => "bigint",
        Some("float") => "float",
        Some("double") => "double",
        Some("boolean") => "boolean",
        Some("date") => "date",
        Some("timestamp") => "timestamp",
        Some(other) => {
            return Err(format!(
                "grok type `{other}` is not one of byte, short, int, long, float, double, boolean, string, date, timestamp"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture<'a>(p: &LinePattern, line: &'a str, column: usize) -> Option<&'a str> {
        let caps = p.regex.captures(line.as_bytes())?;
        let g = p.groups[column]?;
        caps.get(g)
            .map(|m| std::str::from_utf8(m.as_bytes()).unwrap())
    }

    #[test]
    fn combined_apache_log_fields() {
        let line = r#"203.0.113.9 - frank [10/Oct/2026:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
        let cols = [
            "clientip",
            "auth",
            "timestamp",
            "verb",
            "request",
            "httpversion",
            "response",
            "bytes",
            "referrer",
            "agent",
            "nothing",
        ];
        let p = line_pattern("%{COMBINEDAPACHELOG}", None, &cols).unwrap();
        let got: Vec<_> = (0..cols.len()).map(|i| capture(&p, line, i)).collect();
        assert_eq!(
            got,
            vec![
                Some("203.0.113.9"),
                Some("frank"),
                Some("10/Oct/2026:13:55:36 -0700"),
                Some("GET"),
                Some("/apache_pb.gif?x=1"),
                Some("1.0"),
                Some("200"),
                Some("2326"),
                Some(r#""http://www.example.com/start.html""#),
                Some(r#""Mozilla/4.08 [en] (Win98; I ;Nav)""#),
                None,
            ]
        );
        let names: Vec<_> = fields("%{COMBINEDAPACHELOG}", None)
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(
            names,
            [
                "clientip",
                "ident",
                "auth",
                "timestamp",
                "verb",
                "request",
                "httpversion",
                "rawrequest",
                "response",
                "bytes",
                "referrer",
                "agent"
            ]
        );
    }

    #[test]
    fn athenas_postfix_example_with_custom_patterns() {
        // Athena's documented example: an unnamed %{SYSLOGBASE} fills the `syslogbase` column.
        let p = line_pattern(
            "%{SYSLOGBASE} %{POSTFIX_QUEUEID:queue_id}: %{GREEDYDATA:syslog_message}",
            Some("POSTFIX_QUEUEID [0-9A-F]{7,12}"),
            &["syslogbase", "queue_id", "syslog_message", "program"],
        )
        .unwrap();
        let line = "Feb  9 07:15:00 m4eastmail postfix/smtpd[19305]: B88C4120838: connect from unknown[192.168.55.4]";
        assert_eq!(
            capture(&p, line, 0),
            Some("Feb  9 07:15:00 m4eastmail postfix/smtpd[19305]:")
        );
        assert_eq!(capture(&p, line, 1), Some("B88C4120838"));
        assert_eq!(
            capture(&p, line, 2),
            Some("connect from unknown[192.168.55.4]")
        );
        assert_eq!(capture(&p, line, 3), Some("postfix/smtpd"));
        assert!(p.regex.captures(b"no syslog here").is_none());
    }

    #[test]
    fn types_loops_and_errors() {
        let f = fields("%{INT:n:int} %{WORD:w} (?<rest>.*)", None).unwrap();
        assert_eq!(
            f,
            vec![
                GrokField {
                    name: "n".into(),
                    ty: Some("int".into())
                },
                GrokField {
                    name: "w".into(),
                    ty: None
                },
                GrokField {
                    name: "rest".into(),
                    ty: None
                },
            ]
        );
        assert_eq!(hive_type(Some("long")).unwrap(), "bigint");
        assert!(hive_type(Some("blob")).unwrap_err().contains("blob"));
        let e = check("%{NOPE:x}", None).unwrap_err();
        assert!(e.contains("%{NOPE}"), "{e}");
        let e = check("%{A}", Some("A x%{B}\nB y%{A}")).unwrap_err();
        assert!(e.contains("refers to itself"), "{e}");
        let e = check("(?<=a)b", None).unwrap_err();
        assert!(e.starts_with("input.format does not compile"), "{e}");
        assert!(!e.contains('\n'));
        let e = check("%{WORD}", Some("bad-name x")).unwrap_err();
        assert!(e.contains("bad-name"), "{e}");
        // A name captured twice: the first capture is the column's.
        let p = line_pattern("%{WORD:a} %{WORD:a}", None, &["a"]).unwrap();
        assert_eq!(capture(&p, "x y", 0), Some("x"));
        // IPv6 and IPv4 both are IPs.
        let p = line_pattern("^%{IP:ip}$", None, &["ip"]).unwrap();
        for ip in [
            "2001:db8::8a2e:370:7334",
            "::1",
            "10.0.0.255",
            "fe80::1:2:3:4",
        ] {
            assert_eq!(capture(&p, ip, 0), Some(ip), "{ip}");
        }
    }
}
