// mimalloc: DataFusion's hash tables and batches allocate heavily from many threads (BENCHMARKS.md has the
// measurement that kept it).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    owl::cli::main()
}
