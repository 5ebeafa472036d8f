//! Regenerate `sample-data/`, bit for bit: `cargo run --example gen_sample_data [ROOT]` (ROOT defaults to the
//! repository). Then `cargo run -- crawl sample-data` rewrites its tables in `catalog/`.

fn main() -> std::process::ExitCode {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").to_string());
    match owl::sample::generate(std::path::Path::new(&root)) {
        Ok(s) => {
            eprintln!(
                "wrote {} files ({} bytes) under {root}/sample-data",
                s.files, s.bytes
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
