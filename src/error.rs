//! The crate's error type: one enum, every variant naming the file, table or column that failed.
//!
//! Library modules return [`Error`]; only `cli/` adds free-form context. The `Display` text is the one line a
//! user sees; [`Error::hint`] is the optional second line (`hint: ...`) with a likely fix.

use datafusion::error::DataFusionError;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything owl's library can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A registry file could not be read or parsed.
    #[error("registry file `{path}` is unreadable: {reason}")]
    CorruptRegistryFile { path: PathBuf, reason: String },

    /// A registry write failed (disk full, permissions, lock).
    #[error("cannot write registry file `{path}`: {source}")]
    RegistryWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A database or table name breaks Glue's naming rules.
    #[error("invalid {kind} name `{name}`: {reason}")]
    InvalidName {
        kind: &'static str,
        name: String,
        reason: &'static str,
    },

    #[error("table `{database}.{table}` does not exist")]
    TableNotFound {
        database: String,
        table: String,
        /// The closest existing table, for `did you mean`.
        suggestion: Option<String>,
    },

    /// A path queried directly (`SELECT * FROM 'x.parquet'`) that holds no files.
    #[error("no file or folder at `{0}`")]
    PathNotFound(String),

    /// A folder queried directly whose files cannot all be read as one table: which one, and why.
    #[error("{0}")]
    PathUnreadable(String),

    #[error("column `{column}` does not exist")]
    ColumnNotFound {
        column: String,
        /// The closest existing column, for `did you mean`.
        suggestion: Option<String>,
    },

    #[error("table `{database}.{table}` already exists")]
    TableExists { database: String, table: String },

    #[error("database `{0}` does not exist")]
    DatabaseNotFound(String),

    #[error("database `{0}` already exists")]
    DatabaseExists(String),

    /// A type string in a registry file or DDL that owl cannot map.
    #[error("unsupported column type `{ty}` for column `{column}`")]
    UnsupportedType { column: String, ty: String },

    /// A location that is neither a local path nor a supported URL.
    #[error("invalid location `{location}`: {reason}")]
    InvalidLocation { location: String, reason: String },

    /// A partition value that does not parse as its key's type.
    #[error("partition value `{value}` of `{key}` in table `{table}` is not a valid {ty}")]
    BadPartitionValue {
        table: String,
        key: String,
        value: String,
        ty: String,
    },

    /// Storage (S3 or a local file system) failed: which object, what happened, with which settings.
    #[error("{message}")]
    Storage {
        message: String,
        hint: Option<String>,
    },

    /// Query planning or execution failed inside DataFusion.
    #[error("{0}")]
    Query(String),

    /// The query needed more memory than the limit allows, even spilling what can spill (Athena: "Query
    /// exhausted resources at this scale factor"). `limit` is filled in by the engine that knows it.
    #[error("query exhausted resources at the memory limit{}: {detail}; raise --memory-limit (OWL_MEMORY_LIMIT) or read less", limit.as_ref().map(|l| format!(" of {l}")).unwrap_or_default())]
    ResourcesExhausted {
        detail: String,
        limit: Option<String>,
    },

    /// Something the user asked for that owl does not do (yet), with the reason.
    #[error("{0}")]
    Unsupported(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A bug or an environment failure that is not the user's input.
    #[error("internal error: {0}")]
    Internal(String),

    /// The same, caused by another error (kept as the source, so nothing of it is lost): see
    /// [`Error::internal`].
    #[error("internal error: {context}: {source}")]
    InternalCause {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// An error at a place in the statement's text (1-based line and column), where the planner knows it.
    #[error("{error} (at line {line}, column {column})")]
    Located {
        error: Box<Error>,
        line: u64,
        column: u64,
    },
}

impl Error {
    /// A likely fix, printed as `hint: ...` under the error line.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Located { error, .. } => error.hint(),
            Error::CorruptRegistryFile { .. } => Some(
                "fix or delete the file (it is JSON); `owl crawl` can recreate crawled tables".into(),
            ),
            Error::TableNotFound {
                suggestion: Some(s), ..
            } => Some(format!("did you mean `{s}`?")),
            Error::TableNotFound { .. } => {
                Some("`SHOW TABLES` lists the tables of the current database".into())
            }
            Error::ColumnNotFound {
                suggestion: Some(s), ..
            } => Some(format!("did you mean `{s}`?")),
            Error::PathNotFound(_) => Some(
                "paths are relative to the working folder; a file needs a known extension, a folder files not hidden (`_x`, `.x`)".into(),
            ),
            Error::Storage { hint, .. } => hint.clone(),
            Error::InvalidName { .. } => Some(
                "names are lower-case letters, digits and `_` (Glue's rules), at most 255 characters"
                    .into(),
            ),
            _ => None,
        }
    }

    /// True when the failure is the user's input (exit 1) rather than owl's (exit 2).
    pub fn is_user_error(&self) -> bool {
        match self {
            Error::Located { error, .. } => error.is_user_error(),
            e => !matches!(e, Error::Internal(_) | Error::InternalCause { .. }),
        }
    }

    /// Where in the statement's text the error is (line, column; 1-based), when known.
    pub fn position(&self) -> Option<(u64, u64)> {
        match self {
            Error::Located { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }
}

impl Error {
    /// An internal error caused by `source`, while doing `context` (`building the result batch`).
    pub fn internal(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::InternalCause {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// The storage failure described anywhere in `e`'s chain (see [`StoreFailure`]), if any.
    pub fn storage_in(e: &(dyn std::error::Error + 'static)) -> Option<Error> {
        StoreFailure::find(e).map(|f| Error::Storage {
            message: f.message.clone(),
            hint: f.hint.clone(),
        })
    }

    /// An object store error, described when it carries a storage failure, with `context` otherwise.
    pub fn from_store(e: object_store::Error, context: &str) -> Error {
        Error::storage_in(&e).unwrap_or_else(|| Error::Storage {
            message: format!("{context}: {e}"),
            hint: None,
        })
    }
}

impl From<Error> for datafusion::error::DataFusionError {
    fn from(e: Error) -> Self {
        datafusion::error::DataFusionError::External(Box::new(e))
    }
}

/// A storage failure described for a person: carried inside object_store's error (keeping its kind, so
/// not-found stays not-found) and unwrapped into [`Error::Storage`] where errors are printed.
#[derive(Debug, Clone)]
pub struct StoreFailure {
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreFailure {}

impl StoreFailure {
    /// Find a described failure anywhere in an error's chain.
    pub fn find<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a StoreFailure> {
        let mut cur = Some(e);
        while let Some(err) = cur {
            if let Some(f) = err.downcast_ref::<StoreFailure>() {
                return Some(f);
            }
            cur = err.source();
        }
        None
    }
}

/// Turn a DataFusion error into owl's: an owl error wrapped inside comes back out as itself; otherwise the
/// innermost message, without DataFusion's category prefixes.
impl From<DataFusionError> for Error {
    fn from(e: DataFusionError) -> Error {
        if let Some(storage) = Error::storage_in(&e) {
            return storage;
        }
        // Found anywhere in the chain: a join's build side fails every partition with one shared error.
        if let Some(msg) = exhausted_in(&e) {
            return Error::ResourcesExhausted {
                detail: exhausted(msg),
                limit: None,
            };
        }
        let mut e = e;
        loop {
            e = match e {
                DataFusionError::Context(_, inner) => *inner,
                DataFusionError::Diagnostic(_, inner) => *inner,
                DataFusionError::Shared(arc) => match Arc::try_unwrap(arc) {
                    Ok(inner) => inner,
                    Err(arc) => return Error::Query(clean(&arc.to_string())),
                },
                DataFusionError::External(inner) => {
                    return match inner.downcast::<Error>() {
                        Ok(owl) => *owl,
                        Err(other) => match other.downcast::<DataFusionError>() {
                            Ok(df) => Error::from(*df),
                            Err(other) => Error::Query(clean(&other.to_string())),
                        },
                    };
                }
                DataFusionError::ResourcesExhausted(msg) => {
                    return Error::ResourcesExhausted {
                        detail: exhausted(&msg),
                        limit: None,
                    };
                }
                other => return Error::Query(clean(&other.strip_backtrace())),
            }
        }
    }
}

/// The message of a `ResourcesExhausted` anywhere in `e`'s chain (contexts, shared errors, errors wrapped by
/// arrow or another source).
fn exhausted_in(e: &DataFusionError) -> Option<&str> {
    match e {
        DataFusionError::ResourcesExhausted(msg) => Some(msg),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            exhausted_in(inner)
        }
        DataFusionError::Shared(arc) => exhausted_in(arc),
        DataFusionError::ArrowError(inner, _) => match inner.as_ref() {
            arrow::error::ArrowError::ExternalError(source) => source
                .downcast_ref::<DataFusionError>()
                .and_then(exhausted_in),
            _ => None,
        },
        DataFusionError::External(source) => source
            .downcast_ref::<DataFusionError>()
            .and_then(exhausted_in),
        _ => None,
    }
}

/// What DataFusion's pool says when an allocation fails, in one clause: `HashJoinInput[0] needed 12.0 MB more
/// (it held 0.0 B; 5.1 MB of the pool was left)`. Another message: its last line.
fn exhausted(msg: &str) -> String {
    let tail = msg
        .rsplit("Failed to allocate additional ")
        .next()
        .filter(|t| t.len() < msg.len());
    let parsed = tail.and_then(|t| {
        let (size, rest) = t.split_once(" for ")?;
        let (who, rest) = rest.split_once(" with ")?;
        let (held, rest) = rest.split_once(" already allocated for this reservation - ")?;
        let left = rest.split_once(" remain available")?.0;
        Some(format!(
            "{who} needed {size} more (it held {held}; {left} of the pool was left)"
        ))
    });
    parsed.unwrap_or_else(|| {
        msg.lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim()
            .to_string()
    })
}

/// A DataFusion message without its category prefixes, first line only.
fn clean(msg: &str) -> String {
    const PREFIXES: [&str; 11] = [
        "Error during planning: ",
        "Execution error: ",
        "External error: ",
        "Arrow error: ",
        "Object Store error: ",
        "Parquet error: ",
        "SQL error: ",
        "This feature is not implemented: ",
        "Schema error: ",
        "ParserError(",
        "Invalid or Unsupported Configuration: ",
    ];
    let mut m = msg.trim().to_string();
    let mut changed = true;
    while changed {
        changed = false;
        for p in PREFIXES {
            if let Some(rest) = m.strip_prefix(p) {
                m = rest.to_string();
                if p == "ParserError(" {
                    m = m.trim_end_matches(')').trim_matches('"').to_string();
                }
                changed = true;
            }
        }
    }
    m.lines().next().unwrap_or_default().to_string()
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
