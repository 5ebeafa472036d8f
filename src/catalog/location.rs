//! Where a registry location points: `s3://` and `file://` URLs as they are, local paths relative to the
//! registry folder (so a committed registry works wherever the repository is cloned).

use crate::error::{Error, Result};
use std::path::{Component, Path, PathBuf};
use url::Url;

/// The store path of the folder at `url` (`shown` as the user wrote it, for the error).
pub(crate) fn prefix_of(url: &Url, shown: &str) -> Result<object_store::path::Path> {
    object_store::path::Path::from_url_path(url.path()).map_err(|e| Error::InvalidLocation {
        location: shown.to_string(),
        reason: e.to_string(),
    })
}

/// Every object under the folder `url` (`shown` names it in errors): the store's prefix and its listing.
pub(crate) async fn list_under(
    store: &dyn object_store::ObjectStore,
    url: &Url,
    shown: &str,
) -> Result<(object_store::path::Path, Vec<object_store::ObjectMeta>)> {
    use futures::TryStreamExt;
    let prefix = prefix_of(url, shown)?;
    let metas = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| Error::from_store(e, &format!("listing `{shown}`")))?;
    Ok((prefix, metas))
}

/// Resolve a table or partition location to a folder URL (always ending in `/`).
/// `base` is the folder relative local paths hang from.
pub(crate) fn resolve_dir(location: &str, base: &Path) -> Result<Url> {
    let mut url = resolve(location, base)?;
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

/// Resolve a location (file or folder) to a URL.
pub(crate) fn resolve(location: &str, base: &Path) -> Result<Url> {
    let bad = |reason: String| Error::InvalidLocation {
        location: location.into(),
        reason,
    };
    if location.is_empty() {
        return Err(bad("empty".into()));
    }
    if let Some((scheme, _)) = location.split_once("://") {
        let url = Url::parse(location).map_err(|e| bad(e.to_string()))?;
        return match scheme {
            "s3" | "s3a" | "file" => Ok(url),
            other => Err(bad(format!(
                "scheme `{other}` is not supported (use s3:// or a local path)"
            ))),
        };
    }
    let path = normalize(&base.join(location));
    let url = if location.ends_with('/') {
        Url::from_directory_path(&path)
    } else {
        Url::from_file_path(&path)
    };
    url.map_err(|()| bad("not an absolute path after resolution".into()))
}

/// Whether a location may be used when a registry is limited to `roots` (`owl serve --allow-root`): `s3://`
/// always (the store's own credentials decide); a local path only under one of the roots. `None`: no limit
/// (the CLI: its user owns the machine).
pub(crate) fn check_allowed(url: &Url, roots: Option<&[std::path::PathBuf]>) -> Result<()> {
    let Some(roots) = roots else {
        return Ok(());
    };
    if url.scheme() != "file" {
        return Ok(());
    }
    let path = url
        .to_file_path()
        .map(|p| normalize(&p))
        .unwrap_or_default();
    if path.is_absolute() && roots.iter().any(|r| path.starts_with(normalize(r))) {
        return Ok(());
    }
    Err(Error::InvalidLocation {
        location: path.display().to_string(),
        reason: "it is outside the folders this registry may use (--allow-root)".into(),
    })
}

/// Join a partition location onto its table's folder URL.
pub(crate) fn join_partition(table: &Url, partition: &str, base: &Path) -> Result<Url> {
    if partition.contains("://") || Path::new(partition).is_absolute() {
        return resolve_dir(partition, base);
    }
    // The location names folders as the store does (`s=a%2Fb` is one folder, its name holding `%2F`, as Hive
    // and Spark write it): each segment is pushed as text, never read as a URL's escapes, `?` or `#`.
    let mut url = table.clone();
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| Error::InvalidLocation {
                location: partition.into(),
                reason: format!("`{table}` cannot hold folders"),
            })?;
        segments.pop_if_empty();
        for segment in partition.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                s => {
                    segments.push(s);
                }
            }
        }
        segments.push("");
    }
    Ok(url)
}

/// Hive's partition folder `k=v/k2=v2/` (relative to its table's location), each key and value escaped as Hive
/// writes them in a path ([`crate::formats::hive_folder`]).
pub(crate) fn hive_folder(keys: &[&str], values: &[String]) -> String {
    let folders: Vec<String> = keys
        .iter()
        .zip(values)
        .map(|(k, v)| crate::formats::hive_folder(k, Some(v)))
        .collect();
    format!("{}/", folders.join("/"))
}

/// How to write a location the user typed (relative to the working folder) into the registry: URLs as they
/// are; local paths relative to `registry_dir` when they live under the registry's parent folder (the
/// repository, typically), absolute otherwise.
pub(crate) fn for_registry(user_location: &str, registry_dir: &Path) -> Result<String> {
    if user_location.contains("://") {
        resolve(user_location, Path::new("/"))?;
        return Ok(user_location.to_string());
    }
    let cwd = std::env::current_dir().map_err(|e| Error::Io {
        context: "reading the working folder".into(),
        source: e,
    })?;
    let abs = normalize(&cwd.join(user_location));
    let reg = normalize(&cwd.join(registry_dir));
    let trailing = if user_location.ends_with('/') {
        "/"
    } else {
        ""
    };
    if let Some(parent) = reg.parent()
        && let Ok(rest) = abs.strip_prefix(parent)
    {
        let rel = Path::new("..").join(rest);
        return Ok(format!("{}{trailing}", rel.to_string_lossy()));
    }
    Ok(format!("{}{trailing}", abs.to_string_lossy()))
}

/// The path segments of an object below a prefix `depth` segments deep.
pub(crate) fn segments_below(location: &object_store::path::Path, depth: usize) -> Vec<String> {
    location
        .parts()
        .skip(depth)
        .map(|p| p.as_ref().to_string())
        .collect()
}

/// Athena's rule, shared by queries and the crawler: a file is ignored when any segment of its path below the
/// table (or crawl) location starts with `_` or `.` (`_SUCCESS`, `_temporary/`, `.crc`, `.DS_Store`).
pub(crate) fn is_hidden<S: AsRef<str>>(segments: &[S]) -> bool {
    segments.iter().any(|p| {
        let p = p.as_ref();
        p.starts_with('_') || p.starts_with('.')
    })
}

/// Lexical normalisation: drop `.`, fold `..` (the path need not exist).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_to_registry() {
        let u = resolve_dir("../sample-data/weblogs_csv", Path::new("/repo/catalog")).unwrap();
        assert_eq!(u.as_str(), "file:///repo/sample-data/weblogs_csv/");
        let p = join_partition(&u, "year=2024/month=01", Path::new("/repo/catalog")).unwrap();
        assert_eq!(
            p.as_str(),
            "file:///repo/sample-data/weblogs_csv/year=2024/month=01/"
        );
        // Folder names are text: Hive's escapes in them stay in the name, as the store holds it.
        let escaped = join_partition(&u, "s=a%2Fb/t=x#y?", Path::new("/")).unwrap();
        assert_eq!(
            prefix_of(&escaped, "").unwrap().as_ref(),
            "repo/sample-data/weblogs_csv/s=a%2Fb/t=x#y?"
        );
        let up = join_partition(&u, "../other/./p=1", Path::new("/")).unwrap();
        assert_eq!(up.as_str(), "file:///repo/sample-data/other/p=1/");
        let s3 = resolve_dir("s3://bucket/logs", Path::new("/x")).unwrap();
        assert_eq!(s3.as_str(), "s3://bucket/logs/");
        assert!(resolve("ftp://h/x", Path::new("/")).is_err());
    }
}
