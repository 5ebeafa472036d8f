//! Builds the web console (`console/`, TypeScript with Vite) and embeds its files in the binary: `owl serve`
//! serves them from memory, so there is nothing to deploy beside `owl`.
//!
//! It needs Node.js and npm (node 20 or newer). The packages come from the npm registry, pinned by
//! `console/package-lock.json` (`npm ci`, once, and again when the lock file changes). The bundle is written
//! under `OUT_DIR`, never into the source tree; `console/node_modules` is ignored by git.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    link_without_pie();
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let console = root.join("console");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    for watched in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "tsconfig.json",
        "vite.config.ts",
    ] {
        println!("cargo:rerun-if-changed=console/{watched}");
    }
    let dist = out.join("console");
    install(&console);
    // The types first: a console that does not type-check does not ship.
    node(
        &console,
        &["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."],
    );
    node(
        &console,
        &[
            "node_modules/vite/bin/vite.js",
            "build",
            "--logLevel",
            "warn",
            "--emptyOutDir",
            "--outDir",
            dist.to_str().expect("OUT_DIR is UTF-8"),
        ],
    );
    // Each text file also gzipped (Node's zlib), served to browsers that accept it.
    node(
        &console,
        &["-e", GZIP_ALL, dist.to_str().expect("OUT_DIR is UTF-8")],
    );
    let mut files = Vec::new();
    walk(&dist, &dist, &mut files);
    files.retain(|(name, _)| !name.ends_with(".gz"));
    files.sort();
    assert!(
        files.iter().any(|(name, _)| name == "index.html"),
        "the console's build wrote no index.html under {}",
        dist.display()
    );
    let mut code = String::from(
        "/// The console's files (`Asset`: its path under `/`, content type, bytes, and the bytes gzipped when \
         that is smaller).\n\
         pub static ASSETS: &[Asset] = &[\n",
    );
    for (name, path) in &files {
        let text = path.to_str().expect("OUT_DIR is UTF-8");
        let gz = format!("{text}.gz");
        let gz = if Path::new(&gz).exists() {
            format!("Some(include_bytes!({gz:?}))")
        } else {
            "None".to_string()
        };
        code.push_str(&format!(
            "    Asset {{ name: {name:?}, content_type: {:?}, raw: include_bytes!({text:?}), gzipped: {gz} }},\n",
            content_type(name),
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("console_assets.rs"), code).expect("write console_assets.rs");
}

/// Link the `owl` executable at a fixed address (not as a position-independent executable) on Linux.
///
/// A PIE must have every pointer in its read-only data (DataFusion's and Arrow's vtables and tables: 215,000
/// of them, 3.8 MB) relocated by the loader at every start, and each page it writes is copied: about 1,050 of
/// the 1,770 page faults of `owl query 'SELECT 1'`. Linked at a fixed address, those pages are read from the
/// page cache when used, and most never are. The price is that the executable's own code is not placed at a
/// random address (the stack, heap, mmap'd memory and shared libraries still are); `OWL_LINK_PIE=1` at build
/// time keeps a PIE. Measured in BENCHMARKS.md ("Cold start").
fn link_without_pie() {
    println!("cargo:rerun-if-env-changed=OWL_LINK_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let pie = std::env::var("OWL_LINK_PIE").is_ok_and(|v| !v.is_empty() && v != "0");
    if linux && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}

/// `npm ci` when the installed packages are missing or older than the lock file.
fn install(console: &Path) {
    let lock = console.join("package-lock.json");
    let installed = console.join("node_modules/.package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = match (modified(&installed), modified(&lock)) {
        (Some(i), Some(l)) => i >= l,
        _ => false,
    };
    if fresh {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel", "error"])
        .current_dir(console)
        .status()
        .unwrap_or_else(|e| {
            panic!("the web console needs npm (Node.js 20 or newer) to build, and `npm` could not start: {e}")
        });
    assert!(
        status.success(),
        "`npm ci` in {} failed ({status})",
        console.display()
    );
}

fn node(dir: &Path, args: &[&str]) {
    let status = Command::new("node")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| panic!("the web console needs Node.js 20 or newer to build: {e}"));
    assert!(
        status.success(),
        "building the web console failed: `node {}` ({status})",
        args.join(" ")
    );
}

/// Node: gzip (level 9) every .html, .js, .css and .svg file under the folder named by the first argument,
/// beside it as `<name>.gz`, when that is smaller.
const GZIP_ALL: &str = r#"
const fs = require("fs"), path = require("path"), zlib = require("zlib");
const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]);
for (const f of walk(process.argv[1])) {
  if (!/\.(html|js|css|svg)$/.test(f)) continue;
  const raw = fs.readFileSync(f);
  const gz = zlib.gzipSync(raw, { level: 9 });
  if (gz.length < raw.length) fs.writeFileSync(f + ".gz", gz);
}
"#;

fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(base, &path, out);
        } else if let Ok(rel) = path.strip_prefix(base) {
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, path));
        }
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}
