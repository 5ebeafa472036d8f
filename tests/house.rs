//! The house's own rules, checked: the README's two commands share one build, and the library's layers point
//! one way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Each package of the build with its features, as `cargo tree` resolves them for the given kinds of edges.
fn features(edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--offline",
            "--prefix",
            "none",
            "-e",
            edges,
        ])
        .args(["-f", "{p} [{f}]"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -e {edges}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `name vX.Y.Z (path)? [f1,f2] (*)?`
        let Some((package, rest)) = line.split_once(" [") else {
            continue;
        };
        let Some((features, _)) = rest.split_once(']') else {
            continue;
        };
        let package = package.split(" (").next().unwrap_or(package).to_string();
        packages
            .entry(package)
            .or_default()
            .insert(features.to_string());
    }
    packages
}

/// `cargo run` (normal and build dependencies) and `cargo test` (plus the dev-dependencies) give every package
/// they share the same features, so the second reuses what the first compiled. A dev-dependency that turns on
/// a feature of a shared crate (hyper's server, bstr's unicode, ...) recompiled arrow, parquet and DataFusion;
/// Cargo.toml's "One build" block turns such features on for the program too.
#[test]
fn one_build() {
    let normal = features("normal,build");
    let with_dev = features("normal,build,dev");
    assert!(
        normal.len() > 100,
        "cargo tree listed {} packages",
        normal.len()
    );
    let differ: Vec<String> = normal
        .iter()
        .filter(|(package, f)| with_dev.get(*package) != Some(*f))
        .map(|(package, f)| format!("{package}: {f:?} vs {:?} with dev", with_dev.get(package)))
        .collect();
    assert!(
        differ.is_empty(),
        "features differ between `cargo run` and `cargo test` (add them to Cargo.toml's \"One build\" block):\n{}",
        differ.join("\n")
    );
}

/// `owl` is linked at a fixed address on Linux (build.rs): a position-independent executable has its 3.8 MB of
/// pointer tables relocated, page by page, at every start, which was most of a cold `owl query`'s page faults.
/// The ELF header's `e_type` says which it is: 2 (`ET_EXEC`) fixed, 3 (`ET_DYN`) position-independent.
/// `OWL_LINK_PIE=1` at build time asks for a PIE, and this test then expects one.
#[test]
#[cfg(target_os = "linux")]
fn the_executable_is_linked_at_a_fixed_address() {
    let exe = std::fs::read(env!("CARGO_BIN_EXE_owl")).unwrap();
    assert_eq!(&exe[..4], b"\x7fELF", "owl is not an ELF file");
    let e_type = u16::from_le_bytes([exe[16], exe[17]]);
    let pie = option_env!("OWL_LINK_PIE").is_some_and(|v| !v.is_empty() && v != "0");
    assert_eq!(
        e_type,
        if pie { 3 } else { 2 },
        "owl's ELF type is {e_type} (2: fixed address, 3: position-independent; OWL_LINK_PIE={pie})"
    );
}

/// The library's layers, highest first: a module may use its own layer's modules and those below it, never one
/// above. (`lib.rs`'s `# Layout` says what each is.)
const LAYERS: [&[&str]; 13] = [
    &["cli", "fuzz"],
    &["server"],
    &["compare", "output", "batch", "sample", "rows", "ingest"],
    &["engine"],
    &["cluster"],
    &["sql", "crawler"],
    &["optimizer"],
    &["exec"],
    &["catalog", "history"],
    &["formats"],
    &["storage"],
    &["config"],
    &["cost", "error"],
];

fn rank(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` has no layer in tests/house.rs"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a source file: `src/exec/expr/keys.rs` -> `["exec", "expr", "keys"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The file a module path names (its longest prefix that is a file of the crate).
fn file_of(src: &Path, path: &[String]) -> Option<Vec<String>> {
    let mut found = None;
    for n in 1..=path.len() {
        let base = src.join(path[..n].join("/"));
        if base.with_extension("rs").is_file() || base.join("mod.rs").is_file() {
            found = Some(path[..n].to_vec());
        } else {
            break;
        }
    }
    found
}

/// The crate paths a file's code (not its unit tests) names: `crate::a::b` and `super::c`, resolved to files.
fn imports(src: &Path, file: &Path) -> BTreeSet<Vec<String>> {
    let text = std::fs::read_to_string(file).unwrap();
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    let here = module_of(src, file);
    // `super` of `a/b/c.rs` (module a::b::c) and of `a/b/mod.rs` (module a::b) alike: the module minus its last name.
    let parent = here[..here.len().saturating_sub(1)].to_vec();
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parent.clone())] {
            let mut rest = line;
            while let Some(i) = rest.find(prefix) {
                let before = rest[..i].chars().last();
                rest = &rest[i + prefix.len()..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let mut path = base.clone();
                let mut tail = rest;
                loop {
                    let end = tail
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(tail.len());
                    if end == 0 {
                        break;
                    }
                    path.push(tail[..end].to_string());
                    tail = &tail[end..];
                    match tail.strip_prefix("::") {
                        Some(t) => tail = t,
                        None => break,
                    }
                }
                if let Some(target) = file_of(src, &path)
                    && target != here
                {
                    out.insert(target);
                }
            }
        }
    }
    out
}

/// No module imports a module of a higher layer, and no files import each other in a circle.
#[test]
fn layers_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut upward = Vec::new();
    for file in &files {
        let here = module_of(&src, file);
        let Some(top) = here.first() else {
            continue; // lib.rs and main.rs sit above every layer.
        };
        if top == "main" {
            continue;
        }
        let targets = imports(&src, file);
        for target in &targets {
            if rank(&target[0]) < rank(top) {
                upward.push(format!("{} -> {}", here.join("::"), target.join("::")));
            }
        }
        graph.insert(here, targets);
    }
    assert!(
        upward.is_empty(),
        "lower layers import higher ones (see LAYERS):\n{}",
        upward.join("\n")
    );
    // Circles between files: a depth-first walk that finds a file again on its own path.
    fn walk(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        circles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == node) {
            let circle: Vec<String> = path[at..]
                .iter()
                .chain([node])
                .map(|p| p.join("::"))
                .collect();
            circles.push(circle.join(" -> "));
            return;
        }
        if !done.insert(node.clone()) {
            return;
        }
        path.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            // A folder's `mod.rs` naming its own files (`pub mod x;`, re-exports) is not an import.
            if next.starts_with(node) {
                continue;
            }
            walk(next, graph, path, done, circles);
        }
        path.pop();
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        walk(node, &graph, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(
        circles.is_empty(),
        "files import each other in a circle:\n{}",
        circles.join("\n")
    );
}
