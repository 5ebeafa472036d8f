//! Paths queried as tables (`SELECT ... FROM 'folder/'`, DuckDB-style): a folder reads as the crawler would
//! register it (`crawler::folder_table`): files classified by their content, hidden names skipped, columns
//! widened between files merged, `key=value` folders as partition keys, through owl's readers and meter. A
//! single file reads as DataFusion's URL tables read it (by its extension).

use crate::catalog::location::for_registry;
use crate::catalog::provider::RegistryTable;
use crate::error::Error;
use async_trait::async_trait;
use datafusion::catalog::{TableProvider, UrlTableFactory};
use datafusion::datasource::listing::{
    ListingTable, ListingTableConfig, ListingTableConfigExt, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::session_state::SessionState;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock, Weak};

/// The table a path names, for one query's session.
#[derive(Debug, Default)]
pub(super) struct PathTables {
    /// The session the tables are for (set once it is built): its stores read and meter the files.
    session: OnceLock<Weak<parking_lot::RwLock<SessionState>>>,
    /// The registry's root: relative locations are stored against it.
    root: PathBuf,
    /// The database the session is in (the tables are named in it).
    database: String,
    /// Folders already made tables in this session: a statement resolves its tables more than once.
    made: RwLock<Vec<(String, Arc<dyn TableProvider>)>>,
}

impl PathTables {
    pub(super) fn new(root: PathBuf, database: String) -> Self {
        PathTables {
            root,
            database,
            ..PathTables::default()
        }
    }

    pub(super) fn set_session(&self, session: Weak<parking_lot::RwLock<SessionState>>) {
        let _ = self.session.set(session);
    }

    fn state(&self) -> DfResult<SessionState> {
        self.session
            .get()
            .and_then(Weak::upgrade)
            .map(|s| s.read().clone())
            .ok_or_else(|| DataFusionError::Internal("a path table outlived its session".into()))
    }
}

/// Whether `named` is a folder written as a path (with a `/`: a bare word is a table's name, even where a
/// folder of that name exists): a local one that exists, or a remote prefix written with its trailing `/`.
fn is_folder(named: &str) -> bool {
    if !named.contains('/') {
        return false;
    }
    let local = match url::Url::parse(named) {
        Ok(u) if u.scheme() == "file" => u.to_file_path().ok(),
        Ok(u) if named.contains("://") => return u.path().ends_with('/'),
        _ => Some(PathBuf::from(named)),
    };
    local.is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.is_dir()))
}

#[async_trait]
impl UrlTableFactory for PathTables {
    async fn try_new(&self, url: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some((_, t)) = self
            .made
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(u, _)| u == url)
        {
            return Ok(Some(Arc::clone(t)));
        }
        let state = self.state()?;
        if !is_folder(url) {
            // A file: as DataFusion reads it (its format from its extension).
            let Ok(table_url) = ListingTableUrl::parse(url) else {
                return Ok(None);
            };
            // DataFusion reads the file's metadata here: guarded, as a corrupt file can panic a decoder.
            let what = format!("`{url}`");
            let config = crate::formats::guard::Guarded::new(
                ListingTableConfig::new(table_url).infer_options(&state),
                what.clone(),
            )
            .await;
            return match config {
                Ok(config) => {
                    let config =
                        crate::formats::guard::Guarded::new(config.infer_schema(&state), what)
                            .await?;
                    Ok(Some(Arc::new(ListingTable::try_new(config)?)))
                }
                Err(_) => Ok(None),
            };
        }
        let external = |e: Error| DataFusionError::External(Box::new(e));
        let stored = for_registry(url, &self.root).map_err(external)?;
        let stores = Arc::clone(&state.runtime_env().object_store_registry);
        let def = crate::crawler::folder_table(stores.as_ref(), url, &stored, url, &self.database)
            .await
            .map_err(external)?;
        let table: Arc<dyn TableProvider> =
            Arc::new(RegistryTable::try_new(def, self.root.clone()).map_err(external)?);
        self.made
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((url.to_string(), Arc::clone(&table)));
        Ok(Some(table))
    }
}

/// Why the local file `named` (a path a statement names, that is there) is no table: the error of reading its
/// format and schema, with its name. None when it is not a local file, or reads.
pub(super) async fn why_unreadable(state: &SessionState, named: &str) -> Option<Error> {
    if !std::fs::metadata(named).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let unreadable = |e: DataFusionError| {
        let cause = Error::from(e).to_string();
        let cause = cause
            .rsplit("Parquet error: ")
            .next()
            .unwrap_or(&cause)
            .to_string();
        Error::Query(format!("reading `{named}`: {cause}"))
    };
    let url = ListingTableUrl::parse(named).ok()?;
    let what = format!("`{named}`");
    use crate::formats::guard::Guarded;
    match Guarded::new(
        ListingTableConfig::new(url).infer_options(state),
        what.clone(),
    )
    .await
    {
        Ok(config) => Guarded::new(config.infer_schema(state), what)
            .await
            .err()
            .map(unreadable),
        Err(e) => Some(unreadable(e)),
    }
}
