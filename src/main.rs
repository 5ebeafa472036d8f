fn main() -> std::process::ExitCode {
    owl::cli::main()
}
