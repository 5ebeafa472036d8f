//! Log files by content, before the CSV and JSON sniffers: custom grok classifiers first (`owl crawl --grok
//! PATTERN --classification NAME`, Glue's `GrokClassifier`), then the logs owl knows:
//!
//! | classification    | files                                   | read as                                   |
//! |-------------------|-----------------------------------------|-------------------------------------------|
//! | `alb`             | Application Load Balancer access logs   | RegexSerDe, Athena's `alb_logs` columns   |
//! | `elb`             | Classic Load Balancer access logs       | RegexSerDe, Athena's `elb_logs` columns   |
//! | `cloudfront`      | CloudFront standard logs (`#Version`)   | RegexSerDe over tabs, 2 header lines      |
//! | `vpc_flow`        | VPC flow logs (any field list, header)  | RegexSerDe over spaces, 1 header line     |
//! | `s3_access`       | S3 server access logs                   | RegexSerDe, Athena's `s3_access_logs`     |
//! | `combined_apache` | Apache/nginx combined log format        | Grok `%{COMBINEDAPACHELOG}` (Glue's own)  |
//!
//! Column names and types are those of the DDL in Athena's documentation for each log, so its example
//! queries run as written. A file is a log of a kind when at least 90% of its sample's lines match the kind's
//! pattern (a malformed line is then a row of NULLs, as in Athena), and never from its name.

use super::infer::InferredColumn;
use crate::catalog::model::{Compression, FormatSpec, GrokSpec};
use crate::formats::grok;
use crate::formats::regex_lines::LinePattern;

/// A custom grok classifier (Glue's `GrokClassifier`: `Classification`, `GrokPattern`, `CustomPatterns`).
#[derive(Debug, Clone)]
pub(crate) struct GrokClassifier {
    pub classification: String,
    pub pattern: String,
    pub custom_patterns: Option<String>,
    /// Its fields and line pattern, compiled at the first file of a crawl.
    compiled: std::sync::OnceLock<Result<(Vec<grok::GrokField>, LinePattern), String>>,
}

impl GrokClassifier {
    pub(crate) fn new(classification: &str, pattern: &str, custom_patterns: Option<&str>) -> Self {
        GrokClassifier {
            classification: classification.to_string(),
            pattern: pattern.to_string(),
            custom_patterns: custom_patterns.map(str::to_string),
            compiled: std::sync::OnceLock::new(),
        }
    }

    /// The named fields and the pattern that captures each of them.
    fn compiled(&self) -> Result<&(Vec<grok::GrokField>, LinePattern), String> {
        self.compiled
            .get_or_init(|| {
                let custom = self.custom_patterns.as_deref();
                let fields = grok::fields(&self.pattern, custom)?;
                let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                let pattern = grok::line_pattern(&self.pattern, custom, &names)?;
                Ok((fields, pattern))
            })
            .as_ref()
            .map_err(String::clone)
    }

    /// Check the pattern compiles and names at least one field, with types owl knows.
    pub(crate) fn check(&self) -> Result<(), String> {
        let (fields, _) = self.compiled()?;
        if fields.is_empty() {
            return Err(format!(
                "grok classifier `{}`: the pattern names no field (write %{{PATTERN:field}})",
                self.classification
            ));
        }
        for f in fields {
            grok::hive_type(f.ty.as_deref())?;
        }
        if self.classification.is_empty()
            || !self
                .classification
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(format!(
                "classification `{}`: letters, digits, `_` and `-` only",
                self.classification
            ));
        }
        Ok(())
    }
}

/// A log table in AWS's delivery layout, `.../AWSLogs/<account>/<service>/<region>/yyyy/MM/dd/<file>`
/// (load balancers, VPC flow logs, CloudTrail): registered as Athena's documentation registers it, with
/// partition projection over the days (from the first day found to `NOW`), so that a new day's logs are
/// queryable with no crawl or `MSCK REPAIR`, and a query on a day reads that day's prefix only.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AwsLayout {
    /// The table's folder, below the crawled path: the region's folder (one account and region), else
    /// `AWSLogs` (keys `account` and `region` too, enumerated from what was found).
    pub dir: Vec<String>,
    pub name: String,
    /// Partition keys (all strings) and the table properties that project them.
    pub keys: Vec<String>,
    pub properties: std::collections::BTreeMap<String, String>,
}

/// The AWS layout of a log table's files (their folders below the crawled path), if they all lie in one.
pub(crate) fn aws_layout<'a>(
    label: Option<&str>,
    location: &str,
    dirs: impl Iterator<Item = &'a [String]>,
) -> Option<AwsLayout> {
    let label = label?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let mut base: Option<&[String]> = None;
    let mut service: Option<&str> = None;
    let mut accounts = std::collections::BTreeSet::new();
    let mut regions = std::collections::BTreeSet::new();
    let mut first_day: Option<String> = None;
    for d in dirs {
        let i = d.iter().rposition(|s| s == "AWSLogs")?;
        if d.len() != i + 7
            || !digits(&d[i + 4], 4)
            || !digits(&d[i + 5], 2)
            || !digits(&d[i + 6], 2)
        {
            return None;
        }
        if *base.get_or_insert(&d[..=i]) != &d[..=i]
            || *service.get_or_insert(&d[i + 2]) != d[i + 2].as_str()
        {
            return None;
        }
        accounts.insert(d[i + 1].clone());
        regions.insert(d[i + 3].clone());
        let day = format!("{}/{}/{}", d[i + 4], d[i + 5], d[i + 6]);
        if first_day.as_ref().is_none_or(|f| day < *f) {
            first_day = Some(day);
        }
    }
    let (base, service, first_day) = (base?, service?, first_day?);
    let mut properties = std::collections::BTreeMap::new();
    let mut set = |k: &str, v: String| {
        properties.insert(k.to_string(), v);
    };
    set("projection.enabled", "true".into());
    set("projection.day.type", "date".into());
    set("projection.day.format", "yyyy/MM/dd".into());
    set("projection.day.range", format!("{first_day},NOW"));
    set("projection.day.interval", "1".into());
    set("projection.day.interval.unit", "DAYS".into());
    let (dir, keys, template) = if accounts.len() == 1 && regions.len() == 1 {
        let mut dir = base.to_vec();
        dir.push(accounts.pop_first()?);
        dir.push(service.to_string());
        dir.push(regions.pop_first()?);
        (dir, vec!["day".to_string()], "${day}/".to_string())
    } else {
        let join = |v: &std::collections::BTreeSet<String>| {
            v.iter().cloned().collect::<Vec<_>>().join(",")
        };
        set("projection.account.type", "enum".into());
        set("projection.account.values", join(&accounts));
        set("projection.region.type", "enum".into());
        set("projection.region.values", join(&regions));
        (
            base.to_vec(),
            vec!["account".into(), "region".into(), "day".into()],
            format!("${{account}}/{service}/${{region}}/${{day}}/"),
        )
    };
    // Athena's templates are whole URIs; a local table's is relative to its folder, which owl reads the same.
    let template = if location.contains("://") {
        format!("{location}{}/{template}", dir.join("/"))
    } else {
        template
    };
    set("storage.location.template", template);
    Some(AwsLayout {
        dir,
        name: format!("{label}_logs"),
        keys,
        properties,
    })
}

/// What a log sample was recognised as.
pub(crate) struct Recognised {
    pub format: FormatSpec,
    pub columns: Vec<InferredColumn>,
    /// Rows in the file, when the sample is all of it.
    pub records: Option<u64>,
}

/// The sample's lines that are rows (the last one dropped when the sample is cut), at most `max`.
fn sample_lines(text: &str, truncated: bool, max: usize) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    if truncated || lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
        .take(max)
        .collect()
}

/// Whether enough of `lines` match.
fn mostly(lines: &[&str], matches: impl Fn(&str) -> bool) -> bool {
    if lines.is_empty() {
        return false;
    }
    let hits = lines.iter().filter(|l| matches(l)).count();
    hits * 10 >= lines.len() * 9
}

/// Recognise a text sample as a log; `None` when it is none of them (the CSV/JSON sniffers go on).
pub(crate) fn recognise(
    text: &str,
    truncated: bool,
    max_records: usize,
    compression: Compression,
    custom: &[GrokClassifier],
) -> Result<Option<Recognised>, String> {
    let all = sample_lines(text, truncated, usize::MAX);
    let whole = !truncated && all.len() <= max_records;
    let lines: Vec<&str> = all.iter().copied().take(max_records).collect();
    for c in custom {
        let (fields, pattern) = c.compiled()?;
        if mostly(&lines, |l| pattern.regex.is_match(l.as_bytes())) {
            let columns = fields
                .iter()
                .map(|f| {
                    Ok(InferredColumn {
                        name: f.name.to_ascii_lowercase(),
                        ty: grok::hive_type(f.ty.as_deref())?.to_string(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let format = FormatSpec {
                label: Some(c.classification.clone()),
                ..FormatSpec::grok(
                    compression,
                    GrokSpec {
                        format: c.pattern.clone(),
                        custom_patterns: c.custom_patterns.clone(),
                    },
                )
            };
            return Ok(Some(Recognised {
                format,
                columns,
                records: whole.then_some(all.len() as u64),
            }));
        }
    }
    if let Some(trail) = cloudtrail(text, truncated, compression) {
        return Ok(Some(trail));
    }
    for (i, kind) in KINDS.iter().enumerate() {
        let header = match kind.header {
            Header::None => 0,
            Header::CloudFront => 2,
            Header::VpcFields => 1,
        };
        if lines.len() <= header {
            continue;
        }
        let (regex, columns) = match kind.header {
            Header::VpcFields => match vpc_fields(lines[0]) {
                Some(rc) => rc,
                None => continue,
            },
            Header::CloudFront => {
                if !(lines[0].starts_with("#Version:") && lines[1].starts_with("#Fields:")) {
                    continue;
                }
                (kind.regex.to_string(), owned(kind.columns))
            }
            Header::None => (kind.regex.to_string(), owned(kind.columns)),
        };
        let (guard, fixed) = &compiled()[i];
        let own;
        let re = match fixed {
            Some(re) => re,
            None => {
                own = crate::formats::regex_lines::compile(&regex)?;
                &own
            }
        };
        let rows = &lines[header..];
        if mostly(rows, |l| guard.is_match(l) && re.is_match(l.as_bytes())) {
            let format = match kind.label {
                "combined_apache" => FormatSpec::grok(
                    compression,
                    GrokSpec {
                        format: "%{COMBINEDAPACHELOG}".into(),
                        custom_patterns: None,
                    },
                ),
                _ => FormatSpec::regex(compression, regex),
            };
            let format = FormatSpec {
                label: Some(kind.label.to_string()),
                header_lines: header as u32,
                ..format
            };
            return Ok(Some(Recognised {
                format,
                columns,
                records: whole.then_some((all.len() - header) as u64),
            }));
        }
    }
    Ok(None)
}

/// CloudTrail's columns, as Athena's documentation declares its table (`requestparameters`,
/// `responseelements`, `additionaleventdata` and `serviceeventdetails` are JSON text).
const CLOUDTRAIL_COLUMNS: &[(&str, &str)] = &[
    ("eventversion", "string"),
    (
        "useridentity",
        "struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,\
         accesskeyid:string,username:string,onbehalfof:struct<userid:string,identitystorearn:string>,\
         sessioncontext:struct<attributes:struct<mfaauthenticated:string,creationdate:string>,\
         sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>,\
         ec2roledelivery:string,webidfederationdata:struct<federatedprovider:string,attributes:map<string,string>>>>",
    ),
    ("eventtime", "string"),
    ("eventsource", "string"),
    ("eventname", "string"),
    ("awsregion", "string"),
    ("sourceipaddress", "string"),
    ("useragent", "string"),
    ("errorcode", "string"),
    ("errormessage", "string"),
    ("requestparameters", "string"),
    ("responseelements", "string"),
    ("additionaleventdata", "string"),
    ("requestid", "string"),
    ("eventid", "string"),
    (
        "resources",
        "array<struct<arn:string,accountid:string,type:string>>",
    ),
    ("eventtype", "string"),
    ("apiversion", "string"),
    ("readonly", "string"),
    ("recipientaccountid", "string"),
    ("serviceeventdetails", "string"),
    ("sharedeventid", "string"),
    ("vpcendpointid", "string"),
    ("vpcendpointaccountid", "string"),
    ("eventcategory", "string"),
    (
        "addendum",
        "struct<reason:string,updatedfields:string,originalrequestid:string,originaleventid:string>",
    ),
    ("sessioncredentialfromconsole", "string"),
    ("edgedevicedetails", "string"),
    (
        "tlsdetails",
        "struct<tlsversion:string,ciphersuite:string,clientprovidedhostheader:string>",
    ),
];

/// A CloudTrail log file: one JSON object whose `Records` are events (`eventVersion`, `eventSource`, ...).
fn cloudtrail(text: &str, truncated: bool, compression: Compression) -> Option<Recognised> {
    let trimmed = text.trim_start();
    // The first 4 KiB, cut at a character's start (found by fuzzing: a cut inside one panicked).
    let head = &trimmed[..trimmed.floor_char_boundary(4096)];
    if !trimmed.starts_with('{') || !head.contains("\"Records\"") {
        return None;
    }
    let mut splitter = crate::formats::json_serde::Records::default();
    let mut lines = Vec::new();
    splitter.push(text.as_bytes(), &mut lines).ok()?;
    let complete = !truncated && splitter.finish().is_ok();
    let lines = String::from_utf8(lines).ok()?;
    let records: Vec<&str> = lines.lines().collect();
    let event = |l: &&str| {
        serde_json::from_str::<serde_json::Value>(l)
            .is_ok_and(|v| v.get("eventVersion").is_some() && v.get("eventSource").is_some())
    };
    // An empty `{"Records": []}` is one of CloudTrail's too.
    let empty = complete && records.is_empty();
    if !empty && !mostly(&records, |l| event(&l)) {
        return None;
    }
    Some(Recognised {
        format: FormatSpec {
            json: crate::catalog::model::JsonOptions {
                records: true,
                ..Default::default()
            },
            label: Some("cloudtrail".into()),
            ..FormatSpec::json(compression)
        },
        columns: owned(CLOUDTRAIL_COLUMNS),
        records: complete.then_some(records.len() as u64),
    })
}

/// Each kind's guard and (unless it depends on the file's header) full pattern, compiled once.
fn compiled() -> &'static [(regex::Regex, Option<regex::bytes::Regex>)] {
    static COMPILED: std::sync::OnceLock<Vec<(regex::Regex, Option<regex::bytes::Regex>)>> =
        std::sync::OnceLock::new();
    COMPILED.get_or_init(|| {
        KINDS
            .iter()
            .map(|k| {
                let guard = regex::Regex::new(k.guard).expect("a log guard compiles");
                let full = (!k.regex.is_empty()).then(|| {
                    crate::formats::regex_lines::compile(k.regex).expect("a log pattern compiles")
                });
                (guard, full)
            })
            .collect()
    })
}

fn owned(columns: &[(&str, &str)]) -> Vec<InferredColumn> {
    columns
        .iter()
        .map(|(n, t)| InferredColumn {
            name: n.to_string(),
            ty: t.to_string(),
        })
        .collect()
}

enum Header {
    None,
    /// `#Version:` and `#Fields:`.
    CloudFront,
    /// One line naming the fields (VPC flow logs' format string).
    VpcFields,
}

struct Kind {
    label: &'static str,
    /// A cheap test a line of this kind passes (and others' lines fail), before the full pattern.
    guard: &'static str,
    regex: &'static str,
    columns: &'static [(&'static str, &'static str)],
    header: Header,
}

/// VPC flow log fields (the names of a flow log's format, `-` for `_` in a column) and their Athena types.
const VPC_FIELDS: &[(&str, &str)] = &[
    ("version", "int"),
    ("account-id", "string"),
    ("interface-id", "string"),
    ("srcaddr", "string"),
    ("dstaddr", "string"),
    ("srcport", "int"),
    ("dstport", "int"),
    ("protocol", "bigint"),
    ("packets", "bigint"),
    ("bytes", "bigint"),
    ("start", "bigint"),
    ("end", "bigint"),
    ("action", "string"),
    ("log-status", "string"),
    ("vpc-id", "string"),
    ("subnet-id", "string"),
    ("instance-id", "string"),
    ("tcp-flags", "int"),
    ("type", "string"),
    ("pkt-srcaddr", "string"),
    ("pkt-dstaddr", "string"),
    ("region", "string"),
    ("az-id", "string"),
    ("sublocation-type", "string"),
    ("sublocation-id", "string"),
    ("pkt-src-aws-service", "string"),
    ("pkt-dst-aws-service", "string"),
    ("flow-direction", "string"),
    ("traffic-path", "int"),
    ("reject-reason", "string"),
];

/// A VPC flow log's header line: every word a flow log field, and an address among them.
fn vpc_fields(header: &str) -> Option<(String, Vec<InferredColumn>)> {
    let words: Vec<&str> = header.split(' ').collect();
    if words.len() < 3 || !words.iter().any(|w| matches!(*w, "srcaddr" | "dstaddr")) {
        return None;
    }
    let columns = words
        .iter()
        .map(|w| {
            VPC_FIELDS
                .iter()
                .find(|(n, _)| n == w)
                .map(|(n, t)| InferredColumn {
                    name: n.replace('-', "_"),
                    ty: t.to_string(),
                })
        })
        .collect::<Option<Vec<_>>>()?;
    let regex = vec!["([^ ]*)"; columns.len()].join(" ");
    Some((regex, columns))
}

/// Athena's regex for ALB logs (its documented `alb_logs` table).
const ALB: &str = r#"([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*):([0-9]*) ([^ ]*)[:-]([0-9]*) ([-.0-9]*) ([-.0-9]*) ([-.0-9]*) (|[-0-9]*) (-|[-0-9]*) ([-0-9]*) ([-0-9]*) "([^ ]*) (.*) (- |[^ ]*)" "([^"]*)" ([-A-Z0-9_]+) ([A-Za-z0-9.-]*) ([^ ]*) "([^"]*)" "([^"]*)" "([^"]*)" ([-.0-9]*) ([^ ]*) "([^"]*)" "([^"]*)" "([^ ]*)" "([^ ]*)" "([^ ]*)" "([^ ]*)" "([^ ]*)" ?([^ ]*)?( .*)?"#;

const ALB_COLUMNS: &[(&str, &str)] = &[
    ("type", "string"),
    ("time", "string"),
    ("elb", "string"),
    ("client_ip", "string"),
    ("client_port", "int"),
    ("target_ip", "string"),
    ("target_port", "int"),
    ("request_processing_time", "double"),
    ("target_processing_time", "double"),
    ("response_processing_time", "double"),
    ("elb_status_code", "int"),
    ("target_status_code", "string"),
    ("received_bytes", "bigint"),
    ("sent_bytes", "bigint"),
    ("request_verb", "string"),
    ("request_url", "string"),
    ("request_proto", "string"),
    ("user_agent", "string"),
    ("ssl_cipher", "string"),
    ("ssl_protocol", "string"),
    ("target_group_arn", "string"),
    ("trace_id", "string"),
    ("domain_name", "string"),
    ("chosen_cert_arn", "string"),
    ("matched_rule_priority", "string"),
    ("request_creation_time", "string"),
    ("actions_executed", "string"),
    ("redirect_url", "string"),
    ("lambda_error_reason", "string"),
    ("target_port_list", "string"),
    ("target_status_code_list", "string"),
    ("classification", "string"),
    ("classification_reason", "string"),
    ("conn_trace_id", "string"),
];

/// Athena's regex for Classic Load Balancer logs (its documented `elb_logs` table).
const ELB: &str = r#"([^ ]*) ([^ ]*) ([^ ]*):([0-9]*) ([^ ]*)[:-]([0-9]*) ([-.0-9]*) ([-.0-9]*) ([-.0-9]*) (|[-0-9]*) (-|[-0-9]*) ([-0-9]*) ([-0-9]*) "([^ ]*) ([^ ]*) (- |[^ ]*)" ("[^"]*") ([-A-Z0-9_]+) ([A-Za-z0-9.-]*)"#;

const ELB_COLUMNS: &[(&str, &str)] = &[
    ("timestamp", "string"),
    ("elb_name", "string"),
    ("request_ip", "string"),
    ("request_port", "int"),
    ("backend_ip", "string"),
    ("backend_port", "int"),
    ("request_processing_time", "double"),
    ("backend_processing_time", "double"),
    ("client_response_time", "double"),
    ("elb_response_code", "string"),
    ("backend_response_code", "string"),
    ("received_bytes", "bigint"),
    ("sent_bytes", "bigint"),
    ("request_verb", "string"),
    ("url", "string"),
    ("protocol", "string"),
    ("user_agent", "string"),
    ("ssl_cipher", "string"),
    ("ssl_protocol", "string"),
];

/// CloudFront standard logs: 33 tab-separated fields after `#Version` and `#Fields`.
const CLOUDFRONT: &str = r#"([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)"#;

const CLOUDFRONT_COLUMNS: &[(&str, &str)] = &[
    ("date", "date"),
    ("time", "string"),
    ("x_edge_location", "string"),
    ("sc_bytes", "bigint"),
    ("c_ip", "string"),
    ("cs_method", "string"),
    ("cs_host", "string"),
    ("cs_uri_stem", "string"),
    ("sc_status", "int"),
    ("cs_referrer", "string"),
    ("cs_user_agent", "string"),
    ("cs_uri_query", "string"),
    ("cs_cookie", "string"),
    ("x_edge_result_type", "string"),
    ("x_edge_request_id", "string"),
    ("x_host_header", "string"),
    ("cs_protocol", "string"),
    ("cs_bytes", "bigint"),
    ("time_taken", "float"),
    ("x_forwarded_for", "string"),
    ("ssl_protocol", "string"),
    ("ssl_cipher", "string"),
    ("x_edge_response_result_type", "string"),
    ("cs_protocol_version", "string"),
    ("fle_status", "string"),
    ("fle_encrypted_fields", "int"),
    ("c_port", "int"),
    ("time_to_first_byte", "float"),
    ("x_edge_detailed_result_type", "string"),
    ("sc_content_type", "string"),
    ("sc_content_len", "bigint"),
    ("sc_range_start", "bigint"),
    ("sc_range_end", "bigint"),
];

/// Athena's regex for S3 server access logs (its documented `s3_access_logs` table).
const S3_ACCESS: &str = r#"([^ ]*) ([^ ]*) \[(.*?)\] ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) (-|[0-9]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) ([^ ]*)(?: ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*))?.*"#;

const S3_ACCESS_COLUMNS: &[(&str, &str)] = &[
    ("bucketowner", "string"),
    ("bucket_name", "string"),
    ("requestdatetime", "string"),
    ("remoteip", "string"),
    ("requester", "string"),
    ("requestid", "string"),
    ("operation", "string"),
    ("key", "string"),
    ("request_uri", "string"),
    ("httpstatus", "string"),
    ("errorcode", "string"),
    ("bytessent", "bigint"),
    ("objectsize", "bigint"),
    ("totaltime", "string"),
    ("turnaroundtime", "string"),
    ("referrer", "string"),
    ("useragent", "string"),
    ("versionid", "string"),
    ("hostid", "string"),
    ("sigv", "string"),
    ("ciphersuite", "string"),
    ("authtype", "string"),
    ("endpoint", "string"),
    ("tlsversion", "string"),
    ("accesspointarn", "string"),
    ("aclrequired", "string"),
];

/// The combined log format's fields as Glue's `combined_apache` classifier names them.
const COMBINED_APACHE: &str =
    r#"(\S+) (\S+) (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}|-) (\d+|-) "([^"]*)" "([^"]*)".*"#;

const COMBINED_APACHE_COLUMNS: &[(&str, &str)] = &[
    ("clientip", "string"),
    ("ident", "string"),
    ("auth", "string"),
    ("timestamp", "string"),
    ("verb", "string"),
    ("request", "string"),
    ("httpversion", "string"),
    ("rawrequest", "string"),
    ("response", "string"),
    ("bytes", "string"),
    ("referrer", "string"),
    ("agent", "string"),
];

const KINDS: &[Kind] = &[
    Kind {
        label: "alb",
        guard: r"^(?:https?|h2|grpcs|wss?) \S+Z app/",
        regex: ALB,
        columns: ALB_COLUMNS,
        header: Header::None,
    },
    Kind {
        label: "elb",
        guard: r"^\d{4}-\d\d-\d\dT\S+Z [^ /]+ \S+:\d+ ",
        regex: ELB,
        columns: ELB_COLUMNS,
        header: Header::None,
    },
    Kind {
        label: "cloudfront",
        guard: r"^\d{4}-\d\d-\d\d\t",
        regex: CLOUDFRONT,
        columns: CLOUDFRONT_COLUMNS,
        header: Header::CloudFront,
    },
    Kind {
        label: "vpc_flow",
        guard: r"^\S+( \S+)+$",
        regex: "",
        columns: &[],
        header: Header::VpcFields,
    },
    Kind {
        label: "s3_access",
        guard: r"^[0-9a-f]{64}|^\S+ \S+ \[\d\d/\w{3}/\d{4}:",
        regex: S3_ACCESS,
        columns: S3_ACCESS_COLUMNS,
        header: Header::None,
    },
    Kind {
        label: "combined_apache",
        guard: r#"^\S+ \S+ \S+ \[[^\]]+\] ""#,
        regex: COMBINED_APACHE,
        columns: COMBINED_APACHE_COLUMNS,
        header: Header::None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(text: &str) -> Option<(String, usize, u32)> {
        recognise(text, false, 1000, Compression::None, &[])
            .unwrap()
            .map(|r| {
                (
                    r.format.label.unwrap(),
                    r.columns.len(),
                    r.format.header_lines,
                )
            })
    }

    #[test]
    fn each_log_by_its_lines() {
        let alb = r#"https 2024-06-01T10:00:00.123456Z app/my-lb/50dc6c495c0c9188 10.0.0.1:40000 10.1.0.1:80 0.001 0.002 0.000 200 200 120 300 "GET https://example.com:443/p HTTP/1.1" "curl/8.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "example.com" "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012" 0 2024-06-01T10:00:00.120000Z "forward" "-" "-" "10.1.0.1:80" "200" "-" "-" TID_1234"#;
        assert_eq!(
            kind_of(&format!("{alb}\n{alb}\n")),
            Some(("alb".into(), 34, 0))
        );
        let elb = r#"2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000086 0.001048 0.001337 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.38.0" DHE-RSA-AES128-SHA TLSv1.2"#;
        assert_eq!(kind_of(&format!("{elb}\n")), Some(("elb".into(), 19, 0)));
        let vpc = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
                   2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n\
                   2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA\n";
        assert_eq!(kind_of(vpc), Some(("vpc_flow".into(), 14, 1)));
        let apache = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08""#;
        assert_eq!(
            kind_of(&format!("{apache}\n")),
            Some(("combined_apache".into(), 12, 0))
        );
        let s3 = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /amzn-s3-demo-bucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com TLSV1.2 - -"#;
        assert_eq!(
            kind_of(&format!("{s3}\n")),
            Some(("s3_access".into(), 26, 0))
        );
        let mut cf = String::from("#Version: 1.0\n#Fields: date time x-edge-location sc-bytes\n");
        let fields: Vec<String> = (0..33).map(|i| format!("f{i}")).collect();
        cf.push_str(&format!("2019-12-04\t{}\n", fields[1..].join("\t")));
        assert_eq!(kind_of(&cf), Some(("cloudfront".into(), 33, 2)));
        // CSV stays CSV.
        assert_eq!(kind_of("a,b,c\n1,2,3\n"), None);
        assert_eq!(kind_of("a b c\n1 2 3\n"), None);
    }

    #[test]
    fn aws_layouts_become_projected_days() {
        let d = |s: &str| s.split('/').map(str::to_string).collect::<Vec<_>>();
        let one = [
            d("x/AWSLogs/1234/elasticloadbalancing/us-east-1/2024/06/02"),
            d("x/AWSLogs/1234/elasticloadbalancing/us-east-1/2024/05/31"),
        ];
        let l = aws_layout(Some("alb"), "s3://b/", one.iter().map(|v| v.as_slice())).unwrap();
        assert_eq!(l.dir, d("x/AWSLogs/1234/elasticloadbalancing/us-east-1"));
        assert_eq!(l.name, "alb_logs");
        assert_eq!(l.keys, ["day"]);
        assert_eq!(l.properties["projection.day.range"], "2024/05/31,NOW");
        assert_eq!(
            l.properties["storage.location.template"],
            "s3://b/x/AWSLogs/1234/elasticloadbalancing/us-east-1/${day}/"
        );
        let two = [
            d("AWSLogs/1234/vpcflowlogs/us-east-1/2024/06/02"),
            d("AWSLogs/5678/vpcflowlogs/eu-west-1/2024/06/01"),
        ];
        let l = aws_layout(
            Some("vpc_flow"),
            "../lake/",
            two.iter().map(|v| v.as_slice()),
        )
        .unwrap();
        assert_eq!(l.dir, d("AWSLogs"));
        assert_eq!(l.keys, ["account", "region", "day"]);
        assert_eq!(l.properties["projection.account.values"], "1234,5678");
        assert_eq!(
            l.properties["projection.region.values"],
            "eu-west-1,us-east-1"
        );
        assert_eq!(
            l.properties["storage.location.template"],
            "${account}/vpcflowlogs/${region}/${day}/"
        );
        // Not the layout: no projection.
        let odd = [d("AWSLogs/1234/vpcflowlogs/us-east-1/2024/06")];
        assert!(aws_layout(Some("vpc_flow"), "", odd.iter().map(|v| v.as_slice())).is_none());
        assert!(aws_layout(None, "", one.iter().map(|v| v.as_slice())).is_none());
    }

    #[test]
    fn custom_grok_classifiers_come_first() {
        let c = GrokClassifier::new(
            "mylog",
            "%{TIMESTAMP_ISO8601:ts:timestamp} %{LOGLEVEL:level} %{INT:ms:int} %{GREEDYDATA:msg}",
            None,
        );
        c.check().unwrap();
        let text = "2024-06-01 10:00:00 INFO 12 started\n2024-06-01 10:00:01 WARN 7 slow disk\n";
        let r = recognise(text, false, 1000, Compression::Gzip, &[c])
            .unwrap()
            .unwrap();
        assert_eq!(r.format.label.as_deref(), Some("mylog"));
        assert_eq!(r.format.compression, Compression::Gzip);
        let cols: Vec<_> = r
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.ty.as_str()))
            .collect();
        assert_eq!(
            cols,
            [
                ("ts", "timestamp"),
                ("level", "string"),
                ("ms", "int"),
                ("msg", "string")
            ]
        );
        assert_eq!(r.records, Some(2));
        let bad = GrokClassifier::new("x", "%{WORD}", None);
        assert!(bad.check().unwrap_err().contains("names no field"));
    }
}
