//! The `lucid` binary: a thin shell over [`lucid::cli`].

fn main() -> std::process::ExitCode {
    lucid::cli::main()
}
